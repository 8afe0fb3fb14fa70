// `node tests/broker_outgoing_same_as_aedes.mjs BROKER_FOLDER SEQUENCES`: random sequences of
// the outgoing* calls Aedes makes (enqueue, update with a PUBLISH or a PUBREL, clear by packet
// id or a dropped message's undefined id), each made on sourcewatch/broker/outgoing.mjs's
// indexed queue and on aedes-persistence's in-memory store (installed in BROKER_FOLDER); after
// every call both must have returned or thrown alike and hold the same queue. Few brokers,
// counters and packet ids, so that they repeat. Prints "same" and exits 0, or says where the two
// differ and exits 1. Run by tests/test_embedded_mqtt.py.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [folder, sequences] = process.argv.slice(2)
const require = createRequire(join(folder, 'package.json'))
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js')
const { indexOutgoing } = await import(pathToFileURL(join(folder, 'outgoing.mjs')))

let seed = 16
function random (n) { // a small linear congruential generator: the same sequences every run
  seed = (seed * 1103515245 + 12345) % 2147483648
  return Math.floor((seed / 2147483648) * n)
}
const pick = (items) => items[random(items.length)]
const brokers = ['broker-a', 'broker-b', undefined]
const clients = [{ id: 'c1' }, { id: 'c2' }]

function summary (packet) {
  if (packet === undefined) return 'none'
  const { cmd, brokerId, brokerCounter, messageId, topic } = packet
  return JSON.stringify({ cmd, brokerId, brokerCounter, messageId: messageId ?? null, topic })
}

async function outcome (call) {
  try {
    return `returned ${summary(await call())}`
  } catch (err) {
    return `threw ${err.message}`
  }
}

async function queue (store, client) {
  return (await store.outgoingStream(client).toArray()).map(summary).join('\n')
}

function randomCall (n) {
  const client = pick(clients)
  const kind = random(10)
  if (kind < 4) {
    const packet = { cmd: 'publish', topic: `t/${n}`, payload: Buffer.from('x'), qos: 1, brokerId: pick(brokers), brokerCounter: 1 + random(12) }
    return [`enqueue ${client.id} ${summary(packet)}`, (store) => random(2) ? store.outgoingEnqueue({ clientId: client.id }, packet) : store.outgoingEnqueueCombi([{ clientId: client.id }], packet)]
  }
  if (kind < 7) {
    const packet = random(4)
      ? { cmd: 'publish', topic: `t/u${n}`, qos: 1, brokerId: pick(brokers), brokerCounter: 1 + random(12), messageId: 1 + random(6) }
      : { cmd: 'pubrel', messageId: 1 + random(6) }
    return [`update ${client.id} ${summary(packet)}`, (store) => store.outgoingUpdate(client, structuredClone(packet))]
  }
  const messageId = random(4) ? 1 + random(6) : undefined
  return [`clear ${client.id} ${messageId}`, (store) => store.outgoingClearMessageId(client, { messageId })]
}

for (let s = 0; s < Number(sequences); s++) {
  const aedes = new MemoryPersistence()
  const ours = new MemoryPersistence()
  indexOutgoing(ours)
  const done = []
  for (let n = 0; n < 200; n++) {
    const [what, call] = randomCall(n)
    done.push(what)
    const expected = await outcome(() => call(aedes))
    const got = await outcome(() => call(ours))
    for (const client of clients) {
      const [expectedQueue, gotQueue] = [await queue(aedes, client), await queue(ours, client)]
      if (got !== expected || gotQueue !== expectedQueue) {
        console.log(`sequence ${s}, after:\n${done.join('\n')}\naedes ${expected}, queue of ${client.id}:\n${expectedQueue}\nours ${got}, queue of ${client.id}:\n${gotQueue}`)
        process.exit(1)
      }
    }
  }
}
console.log('same')
