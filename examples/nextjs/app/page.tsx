const routes = [
  ['GET', 'read', 'current_user, now() and a parameterized query (?name=…)'],
  ['POST', 'write', 'insert a row and count the table, in one transaction'],
  ['GET', 'stats', "this isolate's pool counters"],
  ['GET', 'fail', 'a failing query: JSON 500 with the SQLSTATE'],
] as const;

export default function Home() {
  return (
    <main>
      <h1>edgepg on Next.js</h1>
      <p>
        Route handlers that query Postgres with <code>edgepg</code>, a Rust driver compiled to
        WebAssembly with an isolate-scoped connection pool. The same handlers run on both
        runtimes: on the edge runtime the driver connects over WebSocket through a
        WebSocket-to-TCP proxy, on Node.js over TCP.
      </p>
      {(['edge', 'node'] as const).map((rt) => (
        <section key={rt}>
          <h2>{rt === 'edge' ? 'Edge runtime' : 'Node.js runtime'}</h2>
          <ul>
            {routes.map(([method, name, what]) => (
              <li key={name}>
                {method === 'GET' ? <a href={`/api/${rt}/${name}`}>/api/{rt}/{name}</a> : <code>{`POST /api/${rt}/${name}`}</code>}
                {' '}: {what}
              </li>
            ))}
          </ul>
        </section>
      ))}
    </main>
  );
}
