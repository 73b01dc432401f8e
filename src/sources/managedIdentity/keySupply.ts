/**
 * Binding keys made ahead. An RSA-2048 key takes tens of milliseconds, at times over a hundred, to
 * generate; made when a mint needs it, it is most of a bound managed identity's first token. So
 * one spare key is generated on libuv's thread pool (`crypto.generateKeyPair`, never on the event
 * loop) as soon as a bound managed identity entry exists, and again after each mint has used one.
 * Every key serves one certificate only: a key is handed out once and then forgotten here.
 */
import { BindingKey, type BindingKeyPair } from "../bindingKey.ts";

/** How long after a mint the next spare key is started, so that it does not compete with the requests that follow the mint. */
const REFILL_DELAY_MS = 20;

/** A supply of fresh binding keys with one made ahead: software keys, or keys generated in a token. */
export class BindingKeySupply {
  readonly #generate: () => Promise<BindingKeyPair>;
  #spare: Promise<BindingKeyPair | undefined> | undefined;
  #refill: ReturnType<typeof setTimeout> | undefined;

  /** @param generate - makes one key; {@link BindingKey.generate} unless a test gives another */
  constructor(generate: () => Promise<BindingKeyPair> = () => BindingKey.generate()) {
    this.#generate = generate;
  }

  /** Starts making a spare key unless one is ready or on the way. */
  prepare(): void {
    if (this.#refill !== undefined) {
      clearTimeout(this.#refill);
      this.#refill = undefined;
    }
    // A failed spare is no failure: the key is then made when it is taken.
    this.#spare ??= this.#generate().catch(() => undefined);
  }

  /** A key nobody else has had: the spare one when there is one (waiting for it if it is on the way). */
  async take(): Promise<BindingKeyPair> {
    const spare = this.#spare;
    this.#spare = undefined;
    const key = spare === undefined ? undefined : await spare;
    return key ?? this.#generate();
  }

  /** Resolves once a spare key is ready, starting it now if it was only scheduled: for benchmarks and tests. */
  async ready(): Promise<void> {
    if (this.#spare === undefined) this.prepare();
    await this.#spare;
  }

  /** Stops making spare keys, and hands back the spare one (for a store to remove), if any. */
  async drain(): Promise<BindingKeyPair | undefined> {
    if (this.#refill !== undefined) {
      clearTimeout(this.#refill);
      this.#refill = undefined;
    }
    const spare = this.#spare;
    this.#spare = undefined;
    return spare === undefined ? undefined : await spare;
  }

  /** Starts the next spare key shortly, once the requests that follow a mint are on their way. */
  replenish(): void {
    if (this.#spare !== undefined || this.#refill !== undefined) return;
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      this.prepare();
    }, REFILL_DELAY_MS);
    // A spare key is never a reason for the process to stay alive.
    this.#refill.unref();
  }
}

/**
 * The process's supply: binding keys are independent of any credential's settings, so every
 * credential of the process shares one spare key rather than each making its own.
 */
export const processBindingKeys = new BindingKeySupply();
