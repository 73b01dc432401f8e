import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { ClientSecretCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { SecretValue, SourceUnavailableError, type SourceMaterial } from "./types.ts";

/** A `ClientSecret` entry. The secret is wrapped at once so that it cannot be printed. */
export class ClientSecretSource extends CachedSource {
  readonly #secret: SecretValue;

  constructor(entry: NormalizedEntryOf<NormalizedClientSecretDescription>, now: () => number) {
    super(entry, now);
    this.#secret = new SecretValue(entry.description.clientSecret);
  }

  protected override async read(): Promise<SourceMaterial> {
    if (this.#secret.reveal().trim() === "") {
      throw new SourceUnavailableError("the client secret is empty; set clientSecret to the secret's value");
    }
    return { kind: "secret", secret: this.#secret };
  }
}

/** A `ClientSecret` entry as validated. */
export type NormalizedClientSecretDescription = Normalized<ClientSecretCredentialDescription>;

/** The `ClientSecret` source type. */
export const clientSecretSourceType: SourceDescriptor<"ClientSecret", NormalizedClientSecretDescription> = {
  sourceType: "ClientSecret",
  keys: ["clientSecret"],
  cannotBind: "a client secret cannot be presented in a TLS handshake",
  read({ c, entry, path }) {
    const clientSecret = readString(c, entry, "clientSecret", path, {
      required: true,
      requiredFor: "a ClientSecret entry",
      meaning: "the client secret of the app registration",
    })!;
    return { description: { sourceType: "ClientSecret", clientSecret }, detail: "ClientSecret" };
  },
  create: (entry, context) => new ClientSecretSource(entry, context.now),
};
