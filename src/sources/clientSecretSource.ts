import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { ClientSecretCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { SecretValue, SourceUnavailableError, type SourceMaterial } from "./types.ts";

/** A `ClientSecret` entry. The secret is wrapped at once so that it cannot be printed. */
export class ClientSecretSource extends CachedSource {
  readonly #secret: SecretValue;

  constructor(entry: NormalizedEntry, description: Readonly<ClientSecretCredentialDescription>, now: () => number) {
    super(entry, now);
    this.#secret = new SecretValue(description.clientSecret);
  }

  protected override async read(): Promise<SourceMaterial> {
    if (this.#secret.reveal().trim() === "") {
      throw new SourceUnavailableError("the client secret is empty; set clientSecret to the secret's value");
    }
    return { kind: "secret", secret: this.#secret };
  }
}
