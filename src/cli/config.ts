import type { Command } from "commander";
import { printSettings } from "../config/print-settings.js";
import { resolveSettings } from "../config/resolve-settings.js";
import { serveConfigOf } from "../config/serve-config.js";
import { readConfigFile } from "../config/settings-file.js";
import { addSettingOptions, resolveFlags } from "./serve-options.js";

/** `docker-dedup config check FILE` and `docker-dedup config print`: serve's settings without serving. */
export function configCommand(command: Command): void {
  command.description("check a serve config file, or print the settings serve would run with");
  command
    .command("check <file>")
    .description("check a serve config file (YAML or JSON) as serve would, without its flags or environment: exit 0 if it is right, else each mistake on a line")
    .action(async (file: string) => {
      // The file alone: the check a file gets before it is deployed, whatever the machine's environment says.
      serveConfigOf(resolveSettings({ file: await readConfigFile(file) }));
      process.stdout.write(`${file}: valid\n`);
    });
  addSettingOptions(
    command.command("print").description("print the settings in force (flags over $DOCKER_DEDUP_* over --config FILE over defaults) as YAML, secrets masked"),
  ).action(async (flags: Record<string, unknown>) => {
    const resolved = await resolveFlags(flags);
    serveConfigOf(resolved);
    process.stdout.write(printSettings(resolved));
  });
}
