// TLS for client and peer URLs, with etcd's flags: https:// URLs are served with --cert-file/--key-file
// (peers: --peer-cert-file/--peer-key-file); --client-cert-auth (--peer-client-cert-auth) requires clients
// (peers) to present a certificate signed by --trusted-ca-file (--peer-trusted-ca-file). With auth on, a
// client certificate's common name is the user of a call that carries no token, as in etcd.
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

/** The files named by one side's flags (client or peer). */
export interface TlsFiles {
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
  clientCertAuth: boolean;
}

/** One side's certificate, key and trusted CAs, read once at start. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  clientCertAuth: boolean;
}

/** Reads the files; undefined when no certificate is configured. `flag` is '' or 'peer-' for messages. */
export function loadTls(files: TlsFiles, flag: '' | 'peer-'): TlsMaterial | undefined {
  if (!files.certFile && !files.keyFile) {
    if (files.clientCertAuth)
      throw new Error(`--${flag}client-cert-auth needs --${flag}cert-file and --${flag}key-file`);
    return undefined;
  }
  if (!files.certFile || !files.keyFile)
    throw new Error(`--${flag}cert-file and --${flag}key-file must be given together`);
  if (files.clientCertAuth && !files.trustedCaFile)
    throw new Error(
      `--${flag}client-cert-auth needs --${flag}trusted-ca-file to check client certificates with`,
    );
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read --${flag}${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const m: TlsMaterial = {
    cert: read(files.certFile, 'cert-file'),
    key: read(files.keyFile, 'key-file'),
    ca: files.trustedCaFile ? read(files.trustedCaFile, 'trusted-ca-file') : undefined,
    clientCertAuth: files.clientCertAuth,
  };
  // A certificate that does not match its key, or a file that is not PEM, is a start-up error, not a
  // handshake failure on every connection later.
  try {
    tls.createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (err) {
    throw new Error(`--${flag}cert-file/--${flag}key-file: ${(err as Error).message}`, { cause: err });
  }
  return m;
}

/** A TLS listener's options: our certificate, and client certificates required with client-cert-auth. */
export function serverOptions(m: TlsMaterial): tls.TlsOptions {
  return {
    cert: m.cert,
    key: m.key,
    ca: m.ca,
    requestCert: m.clientCertAuth,
    rejectUnauthorized: m.clientCertAuth,
  };
}

/** Options for dialing a TLS server (a peer, or this member's own gRPC server): our certificate, its CAs. */
export function clientOptions(m: TlsMaterial): tls.ConnectionOptions {
  return { cert: m.cert, key: m.key, ca: m.ca, rejectUnauthorized: m.ca !== undefined };
}

/** The common name of a verified client certificate, if the connection has one. */
export function peerCommonName(socket: net.Socket): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : Array.isArray(cn) ? cn[0] : undefined;
}

/**
 * Dials host:port in plain TCP, or in TLS for an https:// URL. Never throws: an https URL without `tlsOpts`
 * gives a socket that fails at once, through the same 'error'/'close' path as an unreachable peer.
 */
export function dial(
  url: string,
  host: string,
  port: number,
  tlsOpts: tls.ConnectionOptions | undefined,
): net.Socket {
  if (url.startsWith('https:')) {
    if (!tlsOpts) {
      const s = new net.Socket();
      process.nextTick(() =>
        s.destroy(new Error(`${url}: an https peer URL needs --peer-cert-file and --peer-key-file`)),
      );
      return s;
    }
    const s = tls.connect({ ...tlsOpts, host, port, servername: net.isIP(host) ? undefined : host });
    s.setNoDelay(true);
    return s;
  }
  return net.connect({ host, port, noDelay: true });
}
