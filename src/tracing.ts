import { createTracingClient, type TracingClient } from "@azure/core-tracing";
import { SDK_VERSION } from "./constants.ts";

/** The tracing client every span of this package is started from. */
export const tracingClient: TracingClient = createTracingClient({
  namespace: "Microsoft.AAD",
  packageName: "bound-client-credential",
  packageVersion: SDK_VERSION,
});

/** A valid W3C `traceparent` (the example of W3C Trace Context, section 3.2), only ever parsed. */
const PROBE_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/**
 * Whether a span started now could be recorded: an instrumenter (OpenTelemetry's, through
 * `@azure/opentelemetry-instrumentation-azure-sdk`) is in place. `@azure/core-tracing`'s default
 * instrumenter makes spans that record nothing and parses no `traceparent` (its
 * `parseTraceparentHeader` returns undefined, `instrumenter.ts`), while any real one parses a
 * valid header; the check is made on every call, since `useInstrumenter` may be called at any
 * time, and costs a function call when there is none.
 *
 * @internal
 */
export function spansCanBeRecorded(): boolean {
  return tracingClient.parseTraceparentHeader(PROBE_TRACEPARENT) !== undefined;
}
