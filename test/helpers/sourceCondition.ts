/**
 * The samples import "bound-client-credential" by name, as an application does; `npm run sample`
 * runs them with --conditions=bound-client-credential-source so that the name resolves to the
 * TypeScript sources. Tests that import a sample call this first and then import the sample
 * dynamically: a static import would be resolved before any hook could be registered.
 */
import { registerHooks } from "node:module";

/** The export condition under which the package's own name resolves to its TypeScript sources. */
export const SOURCE_CONDITION = "bound-client-credential-source";

let registered = false;

/** Resolves the package's own name to its sources in this process, once. */
export function resolvePackageToSources(): void {
  if (registered) return;
  registered = true;
  registerHooks({
    resolve: (specifier, context, nextResolve) => nextResolve(specifier, { ...context, conditions: [...context.conditions, SOURCE_CONDITION] }),
  });
}
