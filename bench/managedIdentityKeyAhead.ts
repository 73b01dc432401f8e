/**
 * The bound managed identity's first token with the binding key made ahead and with the key made
 * by the mint, interleaved round by round so that both see the same machine load. The emulator
 * runs in a process of its own (bench/emulatorProcess.ts). Each round is a fresh credential: no
 * binding certificate, no leg-1 token, no connection.
 *
 *   node bench/managedIdentityKeyAhead.ts [rounds, default 40]
 */
import { processBindingKeys } from "../src/sources/managedIdentity/keySupply.ts";
import { startBenchEnvironment } from "./environment.ts";
import { percentile, settle, timed } from "./stats.ts";

const rounds = Number(process.argv[2] ?? 40);
if (!Number.isInteger(rounds) || rounds < 2) throw new RangeError("rounds: an integer of at least 2");
const SCOPE = "https://vault.azure.net/.default";

const env = await startBenchEnvironment();
const samples = { ahead: [] as number[], atMint: [] as number[] };
try {
  for (let round = 0; round < rounds; round++) {
    const contender = env.create("boundManagedIdentity");
    try {
      // The same quiet time before both kinds; the key made ahead is ready after it.
      await settle(250);
      const ahead = round % 2 === 0;
      // Taking the spare key away leaves the mint to generate its own, as before keys were made ahead.
      if (!ahead) await processBindingKeys.take();
      const { ms } = await timed(() => contender.credential.getToken(SCOPE));
      (ahead ? samples.ahead : samples.atMint).push(ms);
    } finally {
      await contender.close();
    }
  }
} finally {
  await env.close();
}
const row = (label: string, list: readonly number[]): string =>
  `${label.padEnd(24)} ${String(list.length).padStart(3)}  p10 ${percentile(list, 10).toFixed(1).padStart(6)}  p50 ${percentile(list, 50).toFixed(1).padStart(6)}  p90 ${percentile(list, 90).toFixed(1).padStart(6)} ms`;
process.stdout.write(`bound managed identity, first token of a fresh credential (emulator in another process)\n`);
process.stdout.write(`${row("key made ahead", samples.ahead)}\n${row("key made by the mint", samples.atMint)}\n`);
