// The embedded default's MQTT broker where Mosquitto is not installed: Aedes (MQTT 3.1.1 and
// 5) on one loopback port, sessions and queued QoS 1 messages in memory. Started and stopped
// by sourcewatch/embedded_mqtt.py: `node broker.mjs --max-packet-size=BYTES PORT`; it stops on
// SIGTERM/SIGINT and when its standard input closes (the parent process is gone).
//
// Limits: those of Mosquitto's configurations (BROKER_LIMITS in sourcewatch/embedded_mqtt.py,
// which passes max_packet_size here), as far as Aedes has them (the options documented in
// node_modules/aedes/docs of the version pinned in package-lock.json):
// - maximumPacketSize: Mosquitto's max_packet_size. A larger packet is refused as soon as its
//   declared length is read, before its payload is buffered: a v5 client gets DISCONNECT 0x95
//   (packet too large), a v3.1.1 client is disconnected. Advertised in CONNACK.
// - queueLimit: packets a client may send before its CONNACK; past it the client is dropped
//   (42, Aedes' default: at most 42 packets of at most maximumPacketSize each).
// - Receive Maximum (MQTT 5): Aedes advertises it but sends a client any number of unacknowledged
//   QoS 1/2 PUBLISHes; holdAtReceiveMaximum below keeps to the client's value.
// Aedes' in-memory persistence has no bound on the messages or bytes queued for a session that
// is away (Mosquitto's max_queued_messages / max_queued_bytes); it has no such option. Its
// queue of a session's messages is ours, indexed (outgoing.mjs), with the same semantics.
import net from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'
import { indexOutgoing } from './outgoing.mjs'

const usage = 'usage: node broker.mjs --max-packet-size=BYTES PORT'
let args
try {
  args = parseArgs({ options: { 'max-packet-size': { type: 'string' } }, allowPositionals: true })
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
const port = Number.parseInt(args.positionals[0] ?? '', 10)
const maxPacketSize = Number.parseInt(args.values['max-packet-size'] ?? '', 10)
if (!(port > 0 && port < 65536) || !(maxPacketSize > 0) || args.positionals.length !== 1) {
  console.error(usage)
  process.exit(2)
}

// A server MUST NOT send a client more unacknowledged QoS > 0 PUBLISHes than the client's
// Receive Maximum [MQTT-3.3.4-9]; Aedes 2.0.0-beta.1 does not keep to it. Past it, Aedes's
// in-memory store scans every unacknowledged message at each delivery and each PUBACK, and its
// socket buffer fills with thousands of them. No hook of Aedes can hold a delivery
// (authorizeForward refusing one would clear a queued message of the session), so a v5 client's
// live deliveries (client.deliverQoS, which its subscriptions call) go through a queue of ours:
// past RM unacknowledged, a message waits there, and each PUBACK/PUBCOMP ('ack') sends the next.
// The message is not lost if the client goes away meanwhile: for a persistent session Aedes has
// already stored it, and the next connection's replay of the stored queue sends it (that replay
// is Aedes's own and is not held); a clean session's messages end with its connection anyway.
// mqemitter's callback is called at once, so a slow client does not hold up the others.
const acknowledgedBy = new WeakMap() // client -> what a PUBACK/PUBCOMP of it does

function holdAtReceiveMaximum (client, receiveMaximum) {
  const deliver = client.deliverQoS
  const waiting = new Fifo()
  let inFlight = 0
  function send (packet, done) {
    if (willBeSent(client, packet)) inFlight++
    deliver(packet, done)
  }
  client.deliverQoS = function deliverAtReceiveMaximum (packet, done) {
    if (packet.qos === 0 || (waiting.length === 0 && inFlight < receiveMaximum)) {
      send(packet, done)
    } else {
      waiting.push(packet)
      setImmediate(done)
    }
  }
  acknowledgedBy.set(client, function acknowledged () {
    if (inFlight > 0) inFlight--
    while (waiting.length > 0 && inFlight < receiveMaximum && !client.closed) {
      send(waiting.shift(), noop)
    }
  })
}

// Whether Aedes's deliverQoS will write ``packet`` (its own tests, in its order): not one the
// client published under No Local, nor a duplicate of one already sent (overlapping
// subscriptions), nor one the subscription downgrades to QoS 0. A packet it drops is not counted
// in flight, since no PUBACK will come for it.
function willBeSent (client, packet) {
  if (packet.qos === 0) return false
  if (packet.clientId === client.id && packet.nl) return false
  if (packet.brokerId && (client.duplicates[packet.brokerId] || 0) >= packet.brokerCounter) return false
  const sub = client.subscriptions[packet.topic]
  return !(sub && (sub.qos || 0) === 0)
}

function noop () {}

// A first-in first-out queue. Array's shift() copies the whole array in V8 once it holds more
// than ~16,000 elements (30-50 µs a call, measured on Node 20), which the messages held for a
// client reach under a flood; this one takes from an index and drops the taken part once it is
// half the array, each element moved at most once on average.
class Fifo {
  #items = []
  #head = 0

  get length () {
    return this.#items.length - this.#head
  }

  push (item) {
    this.#items.push(item)
  }

  shift () {
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head * 2 >= this.#items.length) {
      this.#items.splice(0, this.#head)
      this.#head = 0
    }
    return item
  }
}

const broker = await Aedes.createBroker({
  maximumPacketSize: maxPacketSize,
  queueLimit: 42,
  preConnect (client, packet, done) {
    const receiveMaximum = packet.properties?.receiveMaximum
    if (packet.protocolVersion === 5 && receiveMaximum > 0) holdAtReceiveMaximum(client, receiveMaximum)
    done(null, true)
  }
})
indexOutgoing(broker.persistence) // before any client connects
broker.on('ack', (packet, client) => acknowledgedBy.get(client)?.())
broker.on('clientError', (client, err) => console.error(`client ${client.id}: ${err.message}`))

const server = net.createServer(broker.handle)
let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  server.close()
  broker.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.resume()
server.listen(port, '127.0.0.1', () => console.log(`aedes ${broker.version} listening on 127.0.0.1:${port}, packets of at most ${maxPacketSize} bytes`))
