// Preloaded into a gateway by `node benchmarks/call-log-cost.mjs` (node --import): the node's call-log sink
// takes each batch and does nothing with it — no encoding, no JetStream publish, no PubAck to wait for.
// Everything before the sink (the record built per request, the batcher) still runs, so the difference
// between a gateway with and without this file is what shipping call logs costs the proxy thread.
// The module is the one the gateway's own import chain loads (same file URL), so the patch reaches it.
import { JetStreamLogSink } from '../../services/gateway/dist/src/call-log/jetstream-sink.js';

JetStreamLogSink.prototype.write = async function write() {};
