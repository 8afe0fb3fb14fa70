// The queue of QoS 1/2 messages Aedes keeps for each persistent session (its persistence's
// `outgoing*` methods), indexed. Aedes's default in-memory persistence (aedes-persistence 10)
// holds a session's queue in one array and scans it from the oldest message at each delivery
// (outgoingUpdate: which stored message is being sent, by its broker counter) and each PUBACK
// (outgoingClearMessageId: which one is acknowledged, by packet id), then splices it out: O(n)
// a message once thousands are queued for a slow worker, and V8 copies the whole array at each
// splice once it holds more than ~16,000. indexOutgoing replaces those methods of the broker's
// persistence with a queue whose messages are also linked by packet id and by broker counter,
// each list in queue order, so both finds take the first of a list and a removal unlinks.
// Same semantics, the array's order, oldest first:
// - outgoingUpdate(client, packet): the oldest message either of the same broker and broker
//   counter (takes packet's id) or of another broker and with packet's id (replaced by packet:
//   a PUBREL takes its PUBLISH's place); none: 'no such packet'.
// - outgoingClearMessageId(client, packet): the oldest message with packet's id is removed and
//   returned; a message Aedes drops before sending (id undefined) clears the oldest never sent.
// - outgoingStream(client): the queue as it is now, oldest first.
// Aedes 2 calls these without a callback (it awaits the promises), as the replacements expect.
import { Readable } from 'node:stream'
import Packet from 'aedes-packet'

export function indexOutgoing (persistence) {
  const queues = new Map() // client id -> OutgoingQueue
  function queueOf (clientId) {
    let queue = queues.get(clientId)
    if (queue === undefined) queues.set(clientId, (queue = new OutgoingQueue()))
    return queue
  }
  Object.assign(persistence, {
    async outgoingEnqueue (sub, packet) {
      queueOf(sub.clientId).push(new Packet(packet))
    },
    async outgoingEnqueueCombi (subs, packet) {
      for (const sub of subs) queueOf(sub.clientId).push(new Packet(packet))
    },
    async outgoingUpdate (client, packet) {
      if (!queues.get(client.id)?.update(packet)) throw new Error('no such packet')
    },
    async outgoingClearMessageId (client, packet) {
      return queues.get(client.id)?.clear(packet.messageId)
    },
    outgoingStream (client) {
      return Readable.from(queues.get(client.id)?.packets() ?? [])
    }
  })
}

// A node is in three doubly linked lists, each in queue order (its seq): the queue (QUEUE),
// the messages with its packet id (BY_ID) and those with its broker and counter (BY_COUNTER).
const QUEUE = 0
const BY_ID = 1
const BY_COUNTER = 2

class Node {
  constructor (packet, seq) {
    this.packet = packet
    this.seq = seq
    this.prev = [null, null, null]
    this.next = [null, null, null]
  }
}

class List {
  head = null
  tail = null
}

// Links node into list k where its seq puts it: at the tail but for a message that got its
// packet id after a newer one got the same id.
function link (list, node, k) {
  let after = list.tail
  while (after !== null && after.seq > node.seq) after = after.prev[k]
  const before = after === null ? list.head : after.next[k]
  node.prev[k] = after
  node.next[k] = before
  if (after === null) list.head = node
  else after.next[k] = node
  if (before === null) list.tail = node
  else before.prev[k] = node
}

function unlink (list, node, k) {
  const after = node.prev[k]
  const before = node.next[k]
  if (after === null) list.head = before
  else after.next[k] = before
  if (before === null) list.tail = after
  else before.prev[k] = after
  node.prev[k] = node.next[k] = null
}

// The list of key in map (created if missing).
function listOf (map, key) {
  let list = map.get(key)
  if (list === undefined) map.set(key, (list = new List()))
  return list
}

function unlinkFrom (map, key, node, k) {
  const list = map.get(key)
  unlink(list, node, k)
  if (list.head === null) map.delete(key)
}

class OutgoingQueue {
  #queue = new List()
  #byId = new Map() // packet id -> List
  #byCounter = new Map() // broker id -> broker counter -> List
  #seq = 0

  push (packet) {
    const node = new Node(packet, this.#seq++)
    link(this.#queue, node, QUEUE)
    this.#link(node)
  }

  // Returns whether a message was found.
  update (packet) {
    const same = this.#byCounter.get(packet.brokerId)?.get(packet.brokerCounter)?.head ?? null
    let other = this.#byId.get(packet.messageId)?.head ?? null
    while (other !== null && other.packet.brokerId === packet.brokerId && (same === null || other.seq < same.seq)) {
      other = other.next[BY_ID]
    }
    if (other !== null && other.packet.brokerId !== packet.brokerId && (same === null || other.seq < same.seq)) {
      this.#unlink(other)
      other.packet = packet
      this.#link(other)
    } else if (same !== null) {
      unlinkFrom(this.#byId, same.packet.messageId, same, BY_ID)
      same.packet.messageId = packet.messageId
      link(listOf(this.#byId, packet.messageId), same, BY_ID)
    } else {
      return false
    }
    return true
  }

  clear (messageId) {
    const node = this.#byId.get(messageId)?.head
    if (node === undefined) return undefined
    unlink(this.#queue, node, QUEUE)
    this.#unlink(node)
    return node.packet
  }

  packets () {
    const packets = []
    for (let node = this.#queue.head; node !== null; node = node.next[QUEUE]) packets.push(node.packet)
    return packets
  }

  #link (node) {
    const { messageId, brokerId, brokerCounter } = node.packet
    link(listOf(this.#byId, messageId), node, BY_ID)
    let counters = this.#byCounter.get(brokerId)
    if (counters === undefined) this.#byCounter.set(brokerId, (counters = new Map()))
    link(listOf(counters, brokerCounter), node, BY_COUNTER)
  }

  #unlink (node) {
    const { messageId, brokerId, brokerCounter } = node.packet
    unlinkFrom(this.#byId, messageId, node, BY_ID)
    const counters = this.#byCounter.get(brokerId)
    unlinkFrom(counters, brokerCounter, node, BY_COUNTER)
    if (counters.size === 0) this.#byCounter.delete(brokerId)
  }
}
