// The embedded default's MQTT broker where Mosquitto is not installed: Aedes (MQTT 3.1.1 and
// 5) on one loopback port, sessions and queued QoS 1 messages in memory. Started and stopped
// by sourcewatch/embedded.py: `node broker.mjs PORT`; it stops on SIGTERM/SIGINT and when its
// standard input closes (the parent process is gone).
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number.parseInt(process.argv[2] ?? '', 10)
if (!(port > 0 && port < 65536)) {
  console.error('usage: node broker.mjs PORT')
  process.exit(2)
}

const broker = await Aedes.createBroker({
  // A worker that is away must not have its queue cut short (cf. max_queued_messages).
  queueLimit: 1000000
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
server.listen(port, '127.0.0.1', () => console.log(`aedes ${broker.version} listening on 127.0.0.1:${port}`))
