// PostgreSQL advisory lock keys used by the control plane (one place, so they never collide).

/** Held while migrations run. */
export const LOCK_MIGRATIONS = 7_305_001;
/** Held by whichever control plane is writing to the config bus (publisher or reconciler). */
export const LOCK_BUS_WRITER = 7_305_002;
/** Held while the bootstrap admin token is created. */
export const LOCK_BOOTSTRAP = 7_305_003;
