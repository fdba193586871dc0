//! The dashboard: one self-contained page that polls the admin API. It is served to anyone who
//! may reach the listener (it holds no data); the data it shows comes from `/api/v1/pools` and
//! `/api/v1/guards`, with the admin token the operator types into the page when one is
//! configured.

pub const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fulcrum</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
  h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 1.5em; }
  table { border-collapse: collapse; min-width: 40em; }
  th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #ddd; }
  .healthy, .unknown { color: #176b1c; } .unhealthy, .ejected { color: #b00020; } .draining { color: #a66300; }
  #err { color: #b00020; } input { width: 22em; }
</style>
</head>
<body>
<h1>Fulcrum</h1>
<p>Live view of pools, backends and protections, refreshed every second. <span id="err"></span></p>
<p><label>Admin token (only if one is configured; kept in this tab only): <input id="token" type="password" autocomplete="off"></label></p>
<div id="pools">loading…</div>
<h2>protections</h2>
<div id="guards">loading…</div>
<script>
// The page itself holds no data: it reads /api/v1/pools with the admin token, which it keeps
// in sessionStorage: this tab only, gone when it closes (never persisted, never a cookie).
const tokenInput = document.getElementById('token');
tokenInput.value = sessionStorage.getItem('fulcrum-token') || '';
tokenInput.onchange = () => sessionStorage.setItem('fulcrum-token', tokenInput.value);
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
async function refresh() {
  const headers = tokenInput.value ? { 'Authorization': 'Bearer ' + tokenInput.value } : {};
  try {
    const r = await fetch('/api/v1/pools', { headers });
    if (!r.ok) throw new Error('admin API answered ' + r.status);
    const data = await r.json();
    let html = '';
    for (const p of data.pools) {
      html += '<h2>pool ' + esc(p.name) + ' <small>(' + esc(p.balance) + ')</small></h2>';
      html += '<table><tr><th>backend</th><th>state</th><th>health</th><th>weight</th><th>effective</th><th>in flight</th><th>requests</th><th>failures</th></tr>';
      for (const b of p.backends) {
        const health = b.ejected ? 'ejected' : b.health;
        html += '<tr><td>' + esc(b.address) + '</td><td class="' + esc(b.state) + '">' + esc(b.state) +
          '</td><td class="' + esc(health) + '">' + esc(health) + '</td><td>' + b.weight + '</td><td>' +
          b.effective_weight + '</td><td>' + b.inflight + '</td><td>' + b.requests + '</td><td>' + b.failures + '</td></tr>';
      }
      html += '</table>';
    }
    document.getElementById('pools').innerHTML = html || 'no pools';
    const g = await fetch('/api/v1/guards', { headers });
    if (!g.ok) throw new Error('admin API answered ' + g.status);
    document.getElementById('guards').innerHTML = guardsHtml(await g.json());
    document.getElementById('err').textContent = '';
  } catch (e) {
    document.getElementById('err').textContent = e.message;
  }
}
// One row per route: what its requests meet (the listener's where it has none of its own) and
// how many each guard refused.
function refused(x) { return x && x.decisions ? x.decisions.refused : 0; }
function guardsHtml(data) {
  let html = '';
  for (const l of data.listeners) {
    const c = l.connections;
    const conn = [];
    if (c.max_connections_per_ip != null) conn.push(c.max_connections_per_ip + ' open per address');
    if (c.new_connections_per_ip != null) conn.push(c.new_connections_per_ip + ' new per address');
    html += '<h3>listener ' + esc(l.name) + ' <small>(' + esc(l.protocol) + (conn.length ? '; ' + esc(conn.join(', ')) +
      ', ' + c.addresses_tracked + ' addresses tracked' : '') + ')</small></h3>';
    if (!l.routes.length) continue;
    html += '<table><tr><th>route</th><th>rate limit</th><th>access</th><th>auth</th><th>waf</th><th>refused</th></tr>';
    for (const r of l.routes) {
      const g = r.guards, rl = g.rate_limit, ac = g.access, au = g.auth, wf = g.waf;
      const rate = rl ? rl.requests_per_second + '/s burst ' + rl.burst + ' by ' + rl.key + ' (' + rl.keys + ' keys)' : '–';
      const acc = ac ? ac.allow.count + ' allow, ' + ac.deny.count + ' deny' : '–';
      const auth = au ? au.kind : '–';
      const waf = wf ? wf.mode + ' (paranoia ' + wf.paranoia + ')' : '–';
      const n = refused(rl) + refused(ac) + refused(au) + refused(wf);
      html += '<tr><td>' + esc(r.name) + '</td><td>' + esc(rate) + '</td><td>' + esc(acc) + '</td><td>' + esc(auth) +
        '</td><td>' + esc(waf) + '</td><td>' + n + '</td></tr>';
    }
    html += '</table>';
  }
  return html || 'no listeners';
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"##;
