/**
 * The managed identity services of one credential: the binding service and the token client,
 * built once and shared by every managed identity entry, the Key Vault source's managed identity
 * and `bound-credential doctor`.
 */
import type { NormalizedOptions } from "../../configuration/normalized.ts";
import type { HttpClient } from "../../transport/httpClient.ts";
import type { Sleep } from "../../transport/retry.ts";
import { type BindingServiceTuning, ManagedIdentityBindingService } from "./bindingService.ts";
import { ManagedIdentityTokenClient, type TokenClientTuning } from "./tokenClient.ts";

/** Tunables of both services, for tests and unusual hosts; production uses the defaults. */
export interface ManagedIdentityTuning extends BindingServiceTuning, TokenClientTuning {}

/** The two managed identity services. */
export interface ManagedIdentityServices {
  /** IMDS v2 binding certificates. */
  readonly binding: ManagedIdentityBindingService;
  /** Tokens of the managed identity: IMDS v1 (and the other hosts) and leg 1. */
  readonly tokens: ManagedIdentityTokenClient;
}

/** What {@link createManagedIdentityServices} needs. */
export interface ManagedIdentityServicesContext {
  readonly options: Pick<NormalizedOptions, "imdsEndpoint" | "tlsCa" | "attestationProvider">;
  readonly now: () => number;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The credential's HTTP client: managed identity tokens and leg 1 go through it, IMDS v2 does not. */
  readonly http: HttpClient;
  /** The wait between retries of every managed identity request, unless `tuning` names one. */
  readonly sleep?: Sleep | undefined;
  readonly tuning?: ManagedIdentityTuning | undefined;
}

/** Builds the managed identity services of one credential. */
export function createManagedIdentityServices(context: ManagedIdentityServicesContext): ManagedIdentityServices {
  const sleep = context.sleep;
  const given = context.tuning ?? {};
  const tuning: ManagedIdentityTuning =
    sleep === undefined
      ? given
      : {
          ...given,
          imdsRetry: { sleep, ...given.imdsRetry },
          tokenRetry: { sleep, ...given.tokenRetry },
          sleep: given.sleep ?? sleep,
        };
  return {
    binding: new ManagedIdentityBindingService({
      options: context.options,
      now: context.now,
      env: context.env,
      retireCertificate: (certificate) => context.http.retireCertificate(certificate.thumbprintSha256),
      tuning,
    }),
    tokens: new ManagedIdentityTokenClient({ imdsEndpoint: context.options.imdsEndpoint, now: context.now, http: context.http, tuning }),
  };
}
