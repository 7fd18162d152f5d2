import { EventEmitter } from 'node:events';

/**
 * A typed face on EventEmitter; `E` maps each event name to its payload. Subclasses emit only the events of `E`, so 'error' (which
 * crashes Node when nobody listens) can never be emitted unless a subclass declares it.
 */
export class TypedEmitter<E extends object> {
  readonly #emitter = new EventEmitter();

  /** Calls `listener` on every `event`. */
  on<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Removes a listener added with on/once. */
  off<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** Number of listeners of `event`. */
  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /**
   * Emits synchronously. A throwing listener must not tear down the client's internal
   * state (say, half-way through marking seats lost), so the exception is rethrown on the
   * next tick: it still surfaces as an uncaught exception, as with a plain EventEmitter.
   */
  protected emit<K extends keyof E & string>(event: K, payload: E[K]): void {
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (p: E[K]) => void).call(this, payload);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}

/** The emitting side of a TypedEmitter, handed to the parts of a client that raise its events. */
export type Emit<E extends object> = <K extends keyof E & string>(event: K, payload: E[K]) => void;
