/**
 * A one-shot OVSDB JSON-RPC client (RFC 7047) over the database's unix socket: one `transact`
 * request, one reply, then the connection closes. Used instead of `ovsdb-client transact`, whose
 * transaction must fit in one command-line argument (128 KiB on Linux, about 400 ports).
 */
import { connect } from 'node:net';
import { OvsdbError } from '../errors.js';

/** Sends one transaction to the database at `db` (`unix:/path/db.sock`) and returns its raw results. */
export type OvsdbTransact = (db: string, txn: readonly unknown[], what: string) => Promise<unknown[]>;

/** Finds the end of the first complete JSON value in `text`, or -1. */
export function jsonEnd(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** {@link OvsdbTransact} over a unix socket; rejects with {@link OvsdbError} on I/O failure or timeout. */
export function ovsdbTransact(timeoutMs = 30_000): OvsdbTransact {
  return (db, txn, what) =>
    new Promise((resolve, reject) => {
      if (!db.startsWith('unix:')) {
        reject(new OvsdbError({ db, error: 'io', details: 'only unix: sockets are supported', what }));
        return;
      }
      const sock = connect(db.slice('unix:'.length));
      let buf = '';
      let done = false;
      const finish = (err: OvsdbError | null, result?: unknown[]) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(result ?? []);
      };
      const timer = setTimeout(() => finish(new OvsdbError({ db, error: 'timed out', details: `no reply in ${timeoutMs} ms`, what })), timeoutMs);
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(JSON.stringify({ method: 'transact', params: txn, id: 1 })));
      sock.on('error', (e) => finish(new OvsdbError({ db, error: 'io', details: e.message, what, cause: e })));
      sock.on('close', () => finish(new OvsdbError({ db, error: 'io', details: 'connection closed before the reply', what })));
      sock.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = jsonEnd(buf); end > 0; end = jsonEnd(buf)) {
          const msg = JSON.parse(buf.slice(0, end)) as { id?: unknown; method?: string; params?: unknown; result?: unknown; error?: unknown };
          buf = buf.slice(end).trimStart();
          if (msg.method === 'echo') sock.write(JSON.stringify({ id: msg.id, result: msg.params, error: null }));
          else if (msg.id === 1) {
            if (msg.error) finish(new OvsdbError({ db, error: typeof msg.error === 'string' ? msg.error : JSON.stringify(msg.error), what }));
            else finish(null, Array.isArray(msg.result) ? msg.result : []);
          }
        }
      });
    });
}
