import { createTracingClient, type TracingClient } from "@azure/core-tracing";
import { SDK_VERSION } from "./constants.ts";

/** The tracing client every span of this package is started from. */
export const tracingClient: TracingClient = createTracingClient({
  namespace: "Microsoft.AAD",
  packageName: "bound-client-credential",
  packageVersion: SDK_VERSION,
});
