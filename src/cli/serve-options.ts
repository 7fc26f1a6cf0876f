import type { Command } from "commander";
import { resolveSettings, type ResolvedSettings } from "../config/resolve-settings.js";
import { envName, flagName, SETTING_KEYS, specOf } from "../config/serve-settings.js";
import { readConfigFile } from "../config/settings-file.js";

/**
 * serve's settings on a command (serve itself, `config print`): a flag for each, from the table
 * in config/serve-settings.ts, and `--config FILE`. Commander is given no defaults, so a flag not
 * typed stays unset and the environment or the file can set it.
 */
export function addSettingOptions(command: Command): Command {
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    const help = spec.default === undefined || spec.default === false ? spec.help : `${spec.help} (default: ${spec.default})`;
    if (spec.list === true) command.option(spec.flag, help, (value: string, previous: string[] = []) => [...previous, value]);
    else command.option(spec.flag, help);
    // A boolean the file or environment turned on can be turned off again on the command line.
    if (typeof spec.default === "boolean") command.option(`--no-${flagName(key).slice(2)}`, `do not ${spec.help}`);
  }
  return command
    .option("--config <file>", "settings file, YAML or JSON: every setting above under its camelCase name (README: \"The config file\"); default $DOCKER_DEDUP_CONFIG")
    .addHelpText("after", `\nEvery setting is also an environment variable, the flag's name in capitals after DOCKER_DEDUP_ (--max-uploads: $${envName("maxUploads")}), and a key of the --config file (maxUploads); a flag wins over the environment, which wins over the file. Lists (--upstream, --peer) add up.`);
}

/** The settings of the flags, the environment and the config file (`--config`, else $DOCKER_DEDUP_CONFIG), checked and merged. */
export async function resolveFlags(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedSettings> {
  const file = typeof flags.config === "string" ? flags.config : env.DOCKER_DEDUP_CONFIG || undefined;
  return resolveSettings({ flags, env, ...(file === undefined ? {} : { file: await readConfigFile(file) }) });
}
