// Simulated node agents for `shuniu bench heartbeats`: one phase, read from the JSON file
// named on the command line; prints one JSON object with counts and latencies.
// Same protocol as the Python agent: one stream per node, an acknowledgement asked for on
// the first heartbeat of a stream and every `ack_every`-th one.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const phase = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos');
const definition = protoLoader.loadSync('shuniu/v1/nodes.proto', { includeDirs: [root], keepCase: true, longs: Number });
const NodeService = grpc.loadPackageDefinition(definition).shuniu.v1.NodeService;

const NODES_PER_CHANNEL = 1000;
const nodes = phase.nodes;
// mTLS when the phase names a CA directory's files: the fleet's certificate binds every node id it plays.
const credentials = () => (phase.tls
  ? grpc.credentials.createSsl(fs.readFileSync(phase.tls.ca), fs.readFileSync(phase.tls.key), fs.readFileSync(phase.tls.cert))
  : grpc.credentials.createInsecure());
const tlsOptions = phase.tls ? { 'grpc.ssl_target_name_override': phase.tls.server_name } : {};
const clients = Array.from({ length: Math.max(1, Math.ceil(nodes.length / NODES_PER_CHANNEL)) }, (_, c) =>
  new NodeService(phase.address, credentials(), { 'grpc.use_local_subchannel_pool': 1, 'shuniu.channel': c, ...tlsOptions }));
const start = performance.now() + (phase.start_unix_ms - Date.now());
const from = start + phase.warmup_s * 1000;
const end = from + phase.duration_s * 1000;
const interval = phase.interval_s * 1000;
const tally = { sent: 0, confirmed: 0, errors: 0, error_codes: {}, latencies_ms: [] };
const inside = (t) => t >= from && t < end;
const heartbeat = (id, epoch, seq, ask) =>
  ({ node_id: id, epoch, seq, load: 0.3, ack_requested: ask, free: { cpu_milli: 16000, memory_mb: 65536 } });

function failed(code, when) {
  const name = grpc.status[code] ?? String(code);
  tally.error_codes[name] = (tally.error_codes[name] ?? 0) + 1;
  if (inside(when)) tally.errors += 1;
}

function streamPaced(i, [id, epoch], finish) {
  let seq = 0;
  let due = start + phase.open_spread_s * 1000 * i / nodes.length;
  let call = null;
  let pending = 0;  // heartbeats sent in the window since the last acknowledgement was asked for
  const asked = new Map();  // seq -> [sent at, heartbeats it confirms]
  const open = () => {
    call = clients[i % clients.length].Heartbeat();
    const mine = call;
    mine.on('data', (ack) => {
      const entry = asked.get(ack.seq);
      if (entry === undefined) return;  // a change of state, not an acknowledgement
      asked.delete(ack.seq);
      tally.confirmed += entry[1];
      if (entry[1] > 0) tally.latencies_ms.push(performance.now() - entry[0]);
    });
    mine.on('error', (err) => { failed(err.code, performance.now()); if (call === mine) call = null; });
    return true;
  };
  const tick = () => {
    if (due >= end) { if (call) call.end(); finish(); return; }
    const fresh = call === null && open();
    const now = performance.now();
    const ask = fresh || seq % phase.ack_every === 0 || due + interval >= end;
    if (inside(now)) { tally.sent += 1; pending += 1; }
    if (ask) { asked.set(seq, [now, pending]); pending = 0; }
    call.write(heartbeat(id, epoch, seq, ask));
    seq += 1;
    due += interval;
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, Math.max(0, due - performance.now()));
}

function unaryPaced(i, [id, epoch], finish) {
  let seq = 0;
  let due = start + phase.open_spread_s * 1000 * i / nodes.length;
  const tick = () => {
    if (due >= end) { finish(); return; }
    const sentAt = performance.now();
    const counted = inside(sentAt);
    if (counted) tally.sent += 1;
    clients[i % clients.length].HeartbeatOnce({ heartbeat: heartbeat(id, epoch, seq, true) }, { deadline: Date.now() + 30000 },
      (err) => {
        if (err) failed(err.code, sentAt);
        else if (counted) { tally.confirmed += 1; tally.latencies_ms.push(performance.now() - sentAt); }
      });
    seq += 1;
    due += interval;
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, Math.max(0, due - performance.now()));
}

function streamSaturated(i, [id, epoch], finish) {
  const call = clients[i % clients.length].Heartbeat();
  const asked = new Map();
  let seq = 0;
  let inFlight = 0;
  const WINDOW = 8;
  const pump = () => {
    while (inFlight < WINDOW && performance.now() < end) {
      for (let k = 0; k < phase.ack_every; k++) {
        const ask = k === phase.ack_every - 1;
        if (ask) { asked.set(seq, performance.now()); inFlight += 1; }
        call.write(heartbeat(id, epoch, seq, ask));
        seq += 1;
      }
    }
    if (performance.now() >= end && inFlight === 0) { call.end(); finish(); }
  };
  call.on('data', (ack) => {
    const sentAt = asked.get(ack.seq);
    if (sentAt === undefined) return;
    asked.delete(ack.seq);
    inFlight -= 1;
    if (inside(sentAt)) { tally.sent += phase.ack_every; tally.confirmed += phase.ack_every; tally.latencies_ms.push(performance.now() - sentAt); }
    pump();
  });
  call.on('error', (err) => { failed(err.code, performance.now()); finish(); });
  setTimeout(pump, Math.max(0, start - performance.now()));
}

function unarySaturated(i, [id, epoch], finish) {
  let seq = 0;
  const next = () => {
    if (performance.now() >= end) { finish(); return; }
    const sentAt = performance.now();
    clients[i % clients.length].HeartbeatOnce({ heartbeat: heartbeat(id, epoch, seq, true) }, { deadline: Date.now() + 30000 },
      (err) => {
        if (err) failed(err.code, sentAt);
        else if (inside(sentAt)) { tally.sent += 1; tally.confirmed += 1; tally.latencies_ms.push(performance.now() - sentAt); }
        next();
      });
    seq += 1;
  };
  setTimeout(next, Math.max(0, start - performance.now()));
}

const run = { 'stream-paced': streamPaced, 'unary-paced': unaryPaced,
              'stream-saturated': streamSaturated, 'unary-saturated': unarySaturated }[phase.mode];
let left = nodes.length;
const finish = () => {
  left -= 1;
  if (left === 0) {
    // Let answers to the last heartbeats arrive, then report.
    // exit only once the pipe has taken the whole report
    setTimeout(() => process.stdout.write(JSON.stringify(tally) + '\n', () => process.exit(0)), 2000);
  }
};
nodes.forEach((node, i) => run(i, node, finish));
