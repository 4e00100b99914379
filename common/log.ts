// A small levelled logger that writes one line per record, prefixed with time, level and component.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(s: string): LogLevel {
  if (s in ORDER) return s as LogLevel;
  throw new Error(`invalid log level "${s}" (want debug, info, warn or error)`);
}

export class Logger {
  constructor(
    readonly component: string,
    public level: LogLevel = 'info',
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {}

  child(component: string): Logger {
    return new Logger(`${this.component}/${component}`, this.level, this.sink);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < ORDER[this.level]) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${this.component}] ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        line += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, bigintReplacer)}`;
      }
    }
    this.sink(line);
  }
}

function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
