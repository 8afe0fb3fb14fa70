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
// Aedes' in-memory persistence has no bound on the messages or bytes queued for a session that
// is away (Mosquitto's max_queued_messages / max_queued_bytes); it has no such option.
import net from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'

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

const broker = await Aedes.createBroker({
  maximumPacketSize: maxPacketSize,
  queueLimit: 42
})
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
