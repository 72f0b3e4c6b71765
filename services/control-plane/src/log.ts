// JSON-line logging: one object per line on stdout, `event` first.

export type Logger = (event: string, fields?: Record<string, unknown>) => void;

export const stdoutLogger: Logger = (event, fields) => {
  process.stdout.write(JSON.stringify({ event, ts: new Date().toISOString(), ...fields }) + '\n');
};

export const silentLogger: Logger = () => undefined;
