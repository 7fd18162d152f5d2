import winston from 'winston';
import type { LogLevel } from './config';

/** The structured logger every part receives. Plain winston, JSON lines on stdout. */
export type Logger = winston.Logger;

export interface LogContext {
  readonly node: string;
  readonly cluster: string;
  /** Read on every line, so each line carries the node's current state and epoch. */
  dynamic?: () => { state: string; epoch: number };
}

export interface CreateLoggerOptions {
  level: LogLevel;
  context: LogContext;
  /** Defaults to stdout; tests pass a stream to capture lines. */
  stream?: NodeJS.WritableStream;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const addContext = winston.format((info) => {
    info['node'] = opts.context.node;
    info['cluster'] = opts.context.cluster;
    const d = opts.context.dynamic?.();
    if (d) {
      info['state'] = d.state;
      info['epoch'] = d.epoch;
    }
    return info;
  });
  return winston.createLogger({
    level: opts.level,
    format: winston.format.combine(winston.format.timestamp(), addContext(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [opts.stream ? new winston.transports.Stream({ stream: opts.stream }) : new winston.transports.Console({ stderrLevels: [] })],
  });
}

/** A logger that drops everything, for unit tests and tools. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
