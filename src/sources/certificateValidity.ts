import type { LoadedCertificate } from "./loadedCertificate.ts";
import { SourceUnavailableError } from "./types.ts";

/**
 * Refuses a certificate that is expired or not yet valid at `now`, so that the list moves on
 * instead of sending Entra a certificate it will reject.
 *
 * @param certificate - the loaded certificate
 * @param now - ms since epoch, from the injected clock
 * @throws SourceUnavailableError - naming the thumbprint and the validity dates
 */
export function assertCertificateTimeValid(certificate: LoadedCertificate, now: number): void {
  if (certificate.isValidAt(now)) return;
  const window = `valid from ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}`;
  const name = `the certificate ${certificate.thumbprintSha256}`;
  if (now < certificate.notBefore.getTime()) {
    throw new SourceUnavailableError(
      `${name} is not valid yet (${window}); check the system clock or use a certificate that is valid now`,
    );
  }
  throw new SourceUnavailableError(`${name} has expired (${window}); renew it`);
}
