/**
 * `autocore-ipc modules` and `autocore-ipc catalog <domain>`: what is registered and which
 * topics a module serves.
 */
import { CliError, EXIT } from '../exit-codes.ts';
import { formatTable } from '../format.ts';
import { cliModuleName, requestData, withSession, type SessionOptions } from '../session.ts';

/** Options of `modules` and `catalog`. */
export interface InspectOptions extends SessionOptions {
  /** Print the server's JSON answer as it is. */
  json?: boolean;
}

interface DomainInfo {
  name: string;
  version: string;
  capabilities: string[];
}

function asDomains(data: unknown): DomainInfo[] {
  if (!Array.isArray(data)) {
    throw new CliError(
      EXIT.FAILED,
      `system.get_domains answered ${JSON.stringify(data)}, expected an array`,
    );
  }
  return data.map((d: unknown) => {
    const o = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    return {
      name: typeof o.name === 'string' ? o.name : String(o.name),
      version: typeof o.version === 'string' ? o.version : '',
      capabilities: Array.isArray(o.capabilities) ? o.capabilities.map(String) : [],
    };
  });
}

/**
 * Prints the registered modules (`system.get_domains`) as a table: name, version, number of
 * topics. The CLI's own temporary module is left out.
 *
 * @example
 * ```ts
 * await modules({ address: '127.0.0.1:9100', timeout: 5000 });
 * // NAME    VERSION  TOPICS
 * // press1  1.0.0    10
 * ```
 */
export async function modules(options: InspectOptions): Promise<void> {
  const data = await withSession(options, (client, o) =>
    requestData(client, 'system.get_domains', null, o),
  );
  const self = cliModuleName();
  const domains = asDomains(data).filter((d) => d.name !== self);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(domains, null, 2)}\n`);
    return;
  }
  if (domains.length === 0) {
    process.stdout.write('no modules registered\n');
    return;
  }
  const rows = domains
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((d) => [d.name, d.version || '-', String(d.capabilities.length)]);
  process.stdout.write(formatTable(['NAME', 'VERSION', 'TOPICS'], rows));
}

/** A module name (or `system`): 1-64 characters of `[A-Za-z0-9_-]`. */
const DOMAIN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Prints the topics `domain` serves (`<domain>.get_catalog`), one per line.
 *
 * @example
 * ```ts
 * await catalog('press1', { address: '127.0.0.1:9100', timeout: 5000 });
 * ```
 */
export async function catalog(domain: string, options: InspectOptions): Promise<void> {
  if (!DOMAIN.test(domain)) {
    throw new CliError(
      EXIT.USAGE,
      `invalid domain "${domain}": a module name is 1-64 characters of A-Z a-z 0-9 _ - (no dots)`,
    );
  }
  const data = await withSession(options, (client, o) =>
    requestData(client, `${domain}.get_catalog`, null, o),
  );
  if (options.json || !Array.isArray(data)) {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  process.stdout.write(data.map((t) => `${String(t)}\n`).join(''));
}
