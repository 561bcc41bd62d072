// Module shapes the entrypoints import; bundlers (wrangler, Next.js) resolve them.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module '*.wasm?module' {
  const module: WebAssembly.Module;
  export default module;
}
declare module 'cloudflare:sockets' {
  interface SocketAddress { hostname: string; port: number }
  interface SocketOptions { secureTransport?: 'off' | 'on' | 'starttls'; allowHalfOpen?: boolean }
  interface Socket {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
    readonly opened: Promise<unknown>;
    readonly closed: Promise<void>;
    close(): Promise<void>;
    startTls(): Socket;
  }
  export function connect(address: SocketAddress | string, options?: SocketOptions): Socket;
}
