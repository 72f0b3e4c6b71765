// Change notification for an app's session state (a plain object the app mutates): listeners, and a hook
// that re-renders a component on every change.
import { useEffect, useState } from 'preact/hooks';

export interface Changes {
  subscribe(fn: () => void): () => void;
  notify(): void;
  /** Re-renders the calling component after every notify(). */
  useChanges(): void;
}

export function createChanges(): Changes {
  const listeners = new Set<() => void>();
  const subscribe = (fn: () => void) => {
    listeners.add(fn);
    return () => void listeners.delete(fn);
  };
  return {
    subscribe,
    notify: () => {
      for (const fn of listeners) fn();
    },
    useChanges: () => {
      const [, set] = useState(0);
      useEffect(() => subscribe(() => set((x) => x + 1)), []);
    },
  };
}
