// Load shapes shared by the scenario scripts (PROFILE=smoke|load|stress|spike|soak) and the small env helpers.
// Each profile is a ramping-arrival-rate schedule around the target RATE: an arrival-rate executor keeps
// offering load when responses slow down, so latency under overload shows instead of being hidden by clients
// that wait (coordinated omission).
import { fail } from 'k6';
import type { Scenario } from 'k6/options';

export const env = (name: string, dflt: string): string => {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
};

export const num = (name: string, dflt: number): number => {
  const v = Number(env(name, String(dflt)));
  if (!Number.isFinite(v) || v <= 0) fail(`${name} must be a positive number`);
  return v;
};

export type Profile = 'smoke' | 'load' | 'stress' | 'spike' | 'soak';

export function profileName(): Profile {
  const p = env('PROFILE', 'load');
  if (p === 'smoke' || p === 'load' || p === 'stress' || p === 'spike' || p === 'soak') return p;
  return fail(`PROFILE must be smoke, load, stress, spike or soak (got ${p})`);
}

/**
 * The arrival-rate scenario of a profile at `rate` requests (or iterations) per second:
 * smoke: 1/s for 30 s (does it work at all); load: ramp to rate over 1 min, hold DURATION; stress: ramp in
 * steps to 2× rate (where does it break); spike: 10 % → rate in 10 s → 10 %; soak: rate for SOAK_DURATION (4h).
 */
export function arrivalScenario(profile: Profile, rate: number, exec?: string): Scenario {
  const vus = { preAllocatedVUs: Math.ceil(num('PRE_VUS', Math.max(20, rate / 50))), maxVUs: Math.ceil(num('MAX_VUS', Math.max(200, rate / 5))) };
  const base = { executor: 'ramping-arrival-rate' as const, timeUnit: '1s', gracefulStop: '30s', ...vus, ...(exec ? { exec } : {}) };
  const low = Math.max(1, Math.round(rate / 10));
  switch (profile) {
    case 'smoke':
      return { ...base, startRate: 1, stages: [{ target: 1, duration: '30s' }], preAllocatedVUs: 2, maxVUs: 10 };
    case 'load':
      return { ...base, startRate: low, stages: [{ target: rate, duration: '1m' }, { target: rate, duration: env('DURATION', '5m') }] };
    case 'stress':
      return {
        ...base,
        startRate: low,
        stages: [
          { target: rate, duration: '2m' },
          { target: Math.round(rate * 1.5), duration: '2m' },
          { target: rate * 2, duration: '2m' },
          { target: rate * 2, duration: '3m' },
        ],
      };
    case 'spike':
      return { ...base, startRate: low, stages: [{ target: low, duration: '1m' }, { target: rate, duration: '10s' }, { target: rate, duration: '1m' }, { target: low, duration: '10s' }, { target: low, duration: '1m' }] };
    case 'soak':
      return { ...base, startRate: low, stages: [{ target: rate, duration: '2m' }, { target: rate, duration: env('SOAK_DURATION', '4h') }] };
  }
}
