"""The page's style and script, inlined into every report (the file opens from disk, offline).

The script only filters the module tree by name; everything else is plain HTML, so the page
reads the same with scripts off. Colours per element type make a module's precision visible at
a glance (a float16 block among float32 ones).
"""

STYLE = """
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bar: #4f7cc4; --bad: #c4314b;
  --f32: #4f7cc4; --f16: #e08a2b; --bf16: #b0569e; --int8: #2f9e6e; --int4: #7a9e2f;
  --other: #98a2b3; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1200px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.facts { color: var(--muted); margin: 0 0 8px; padding: 0; list-style: none; }
.facts li { display: inline-block; margin-right: 18px; } .facts b { color: var(--fg); }
.totals { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.totals div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.totals b { display: block; font-size: 18px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.note { color: var(--muted); margin: 4px 0; }
.bad { color: var(--bad); font-weight: 600; } .ok { color: #2f7d4f; }
#tree ul { list-style: none; margin: 0; padding-left: 18px; } #tree > ul { padding-left: 0; }
#tree summary, #tree .leaf { display: grid;
  grid-template-columns: minmax(260px, 1fr) 70px 80px 90px 190px; gap: 8px; padding: 1px 0;
  cursor: default; }
#tree summary { cursor: pointer; list-style: none; } #tree summary::-webkit-details-marker
{ display: none; } #tree summary .name::before { content: "\\25B8"; display: inline-block;
  width: 16px; color: var(--muted); } #tree details[open] > summary .name::before
{ content: "\\25BE"; } #tree .leaf { padding-left: 16px; }
#tree .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#tree .path { color: var(--muted); }
#tree .head { font-weight: 600; color: var(--muted); padding-left: 16px; }
#tree li.hidden { display: none; } #tree li.match > details > summary .name,
#tree li.match > .leaf .name { background: #fff3bf; }
.types { display: flex; gap: 6px; align-items: center; white-space: nowrap;
  overflow: hidden; color: var(--muted); font-size: 12px; }
.mix { display: flex; flex: 0 0 70px; height: 10px; border-radius: 2px; overflow: hidden;
  background: #f2f4f7; }
.mix span { display: block; height: 100%; }
#search { font: inherit; padding: 4px 8px; width: 320px; margin: 4px 0 8px; }
svg.chart { display: block; margin: 8px 0; font: 11px system-ui, sans-serif; }
svg .fill { fill: var(--bar); } svg .fill.bad { fill: var(--bad); }
svg .label { text-anchor: end; fill: var(--fg); } svg .value { fill: var(--muted); }
svg .grid { stroke: var(--line); } svg .tick { text-anchor: middle; fill: var(--muted); }
svg .tolerance { stroke: var(--bad); stroke-dasharray: 4 3; stroke-width: 1.5; }
svg .tolerance-label { fill: var(--bad); }
.timebar { display: inline-block; height: 8px; background: var(--bar); border-radius: 2px; }
"""

# Filters the module tree: a module stays when its name, path or tag holds the query, or when
# one of its submodules does; the branches leading to a match open.
SCRIPT = """
(function () {
  var input = document.getElementById('search');
  if (!input) return;
  var items = Array.prototype.slice.call(document.querySelectorAll('#tree li'));
  var count = document.getElementById('search-count');
  input.addEventListener('input', function () {
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    for (var i = items.length - 1; i >= 0; i--) {
      var li = items[i];
      var match = query !== '' && li.getAttribute('data-name').indexOf(query) >= 0;
      var keep = query === '' || match || li.querySelector('li.match, li.keep') !== null;
      li.classList.toggle('match', match);
      li.classList.toggle('keep', keep && query !== '');
      li.classList.toggle('hidden', !keep);
      var details = li.firstElementChild;
      if (query !== '' && keep && details && details.tagName === 'DETAILS') details.open = true;
      if (match) shown++;
    }
    count.textContent = query === '' ? '' : shown + ' matching';
  });
})();
"""
