// Loads uWebSockets.js and refuses its silent pure-JS fallback: the republished package returns a slow
// Node implementation when the native binary does not load, which would quietly ruin the hot path.
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';

export type Uws = typeof UwsTypes;

export interface UwsLoad {
  uws: Uws;
  native: boolean;
  /** Why the native binary is not in use, when it is not. */
  reason?: string;
}

export type Requirer = (id: string) => unknown;

export function nativeBinaryId(platform = process.platform, arch = process.arch, modules = process.versions.modules): string {
  return `uWebSockets.js/binaries/uws_${platform}_${arch}_${modules}.node`;
}

/**
 * Native iff the package's export is the very object the platform binary exports. Pure so that both
 * outcomes can be tested with a stand-in `require`.
 */
export function detectUws(req: Requirer, binaryId = nativeBinaryId()): UwsLoad {
  const uws = req('uWebSockets.js') as Uws;
  let binary: unknown;
  try {
    binary = req(binaryId);
  } catch (e) {
    return { uws, native: false, reason: `native binary ${binaryId} failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (binary !== uws) return { uws, native: false, reason: 'uWebSockets.js returned its pure-JS fallback instead of the native binary' };
  return { uws, native: true };
}

export class UwsFallbackError extends Error {
  /** EX_CONFIG from sysexits.h: the installation, not the input, is wrong. */
  readonly exitCode = 78;
  constructor(reason: string) {
    super(`${reason}; refusing to start (set TP_ALLOW_UWS_FALLBACK=1 to run on the slow fallback anyway)`);
    this.name = 'UwsFallbackError';
  }
}

let loaded: UwsLoad | undefined;

/** Loads once per process. Throws UwsFallbackError on the fallback unless `allowFallback`. */
export function loadUws(allowFallback = process.env.TP_ALLOW_UWS_FALLBACK === '1'): UwsLoad {
  if (!loaded) {
    // Header limits below the gateway's own (TP_MAX_HEADER_BYTES → JSON 431). Measured on the 20.30 build
    // we pin (test/proxy-protocol.test.ts): a header block that arrives in one socket read reaches the
    // handler up to the 512 KiB read buffer, so our 431 applies; one split across reads is buffered in a
    // fixed 4 KiB and uWS closes the connection past that without a response. Later uWS releases size that
    // buffer from UWS_HTTP_MAX_HEADERS_SIZE when the library loads (20.30's binary has no such string):
    // set above our check so that, there, every oversize block gets the JSON 431.
    process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(64 * 1024);
    loaded = detectUws(createRequire(import.meta.url));
  }
  if (!loaded.native && !allowFallback) throw new UwsFallbackError(loaded.reason ?? 'uWebSockets.js fallback');
  return loaded;
}
