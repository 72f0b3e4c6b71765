// The head-sampling decision, made before any OpenTelemetry object exists: an unsampled request (nearly all
// of them) costs a flag test or one Math.random, nothing else. Parent-based: a valid incoming traceparent
// decides by its sampled flag; only a request that starts a trace is sampled at the ratio.
import { validTraceparent } from '../proxy/headers.js';

/** The sampled bit of a traceparent's flags (its last two hex digits, at 53..54). */
function sampledFlag(tp: string): boolean {
  const c = tp.charCodeAt(54);
  // The low bit of the second flags digit: 1 3 5 7 9 b d f.
  const d = c <= 57 ? c - 48 : c - 87;
  return (d & 1) === 1;
}

/** Whether to trace this request; `traceparent` as it came ('' when absent). */
export function headSampled(traceparent: string, ratio: number): boolean {
  if (traceparent !== '' && validTraceparent(traceparent)) return sampledFlag(traceparent);
  // Math.random is not a CSPRNG, and needs not be: it only picks which requests to trace.
  return ratio >= 1 || Math.random() < ratio;
}

