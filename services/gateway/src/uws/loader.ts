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
    // Read by the native library when it loads: raise the header limit above our own 16 KiB check so
    // that we answer oversize headers with a JSON 431 instead of uWS dropping the connection.
    process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(64 * 1024);
    loaded = detectUws(createRequire(import.meta.url));
  }
  if (!loaded.native && !allowFallback) throw new UwsFallbackError(loaded.reason ?? 'uWebSockets.js fallback');
  return loaded;
}
