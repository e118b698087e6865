import Foundation

// The pages' HTML: one layout, one style sheet, two small inline scripts; nothing is fetched from elsewhere.

/// HTML text escaping (also for attribute values).
func h(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// A path segment percent-encoded for a link (sweep names may hold "@").
func pathSegment(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~@"))) ?? s
}

/// A page: title, breadcrumb links, body.
func page(_ title: String, crumbs: [(String, String)] = [], _ body: String, script: String = "") -> String {
    var s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    s += "<title>\(h(title)) — rdd dashboard</title><style>\(styleSheet)</style></head><body>\n"
    s += "<header><a class=\"home\" href=\"/\">rdd dashboard</a>"
    for (label, href) in crumbs { s += " <span class=\"sep\">›</span> <a href=\"\(h(href))\">\(h(label))</a>" }
    s += "<nav><a href=\"/\">Sweeps</a><a href=\"/reports/\">Reports</a><a href=\"/api/sweeps\">JSON API</a></nav></header>\n"
    s += "<main>\n<h1>\(h(title))</h1>\n" + body + "\n</main>\n"
    if !script.isEmpty { s += "<script>\(script)</script>\n" }
    return s + "</body></html>\n"
}

/// A table; each cell is HTML already (escape text with `h`). `numeric` columns are right-aligned.
func htmlTable(_ header: [String], _ rows: [[String]], id: String? = nil, numeric: Set<Int> = [], sortable: Bool = false) -> String {
    var s = "<table\(id.map { " id=\"\($0)\"" } ?? "")\(sortable ? " class=\"sortable\"" : "")><thead><tr>"
    for (i, c) in header.enumerated() { s += "<th\(numeric.contains(i) ? " class=\"num\"" : "")>\(h(c))</th>" }
    s += "</tr></thead><tbody>\n"
    for r in rows {
        s += "<tr>"
        for (i, c) in r.enumerated() { s += numeric.contains(i) ? "<td class=\"num\">\(c)</td>" : "<td>\(c)</td>" }
        s += "</tr>\n"
    }
    return s + "</tbody></table>\n"
}

/// A status as a coloured badge, styled by its first word ("interrupted (no scheduler running)" → `interrupted`).
func badge(_ status: String) -> String {
    "<span class=\"badge \(h(String(status.split(separator: " ").first ?? "")))\">\(h(status))</span>"
}

/// "3 h 04 min", "12 min", "45 s".
func duration(_ s: Double?) -> String {
    guard let s, s.isFinite, s >= 0 else { return "–" }
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%d h %02d min", t / 3600, t / 60 % 60) }
    if t >= 60 { return String(format: "%d min %02d s", t / 60, t % 60) }
    return "\(t) s"
}

/// A number with 4 significant digits.
func num(_ x: Double) -> String { String(format: "%.4g", x) }

let styleSheet = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:14px;color:#1d1d1f;margin:0;background:#f6f7f9}
header{background:#24303f;color:#fff;padding:10px 24px;display:flex;align-items:center;gap:6px}
header a{color:#fff;text-decoration:none}header .home{font-weight:bold}header .sep{color:#9aa7b5}
nav{margin-left:auto;display:flex;gap:18px}nav a{color:#cfd8e3}
main{padding:8px 24px 40px;max-width:1500px}
h1{font-size:22px;margin:14px 0 10px}h2{font-size:17px;margin:22px 0 8px}h3{font-size:15px}
a{color:#0b5cad}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:5px 10px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{background:#e0e6ee}
th.asc::after{content:" ▲";font-size:10px}th.desc::after{content:" ▼";font-size:10px}
tbody tr:hover{background:#f3f7fc}
.paper{color:#7a7f87;font-size:12px;margin-left:4px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;background:#e6e8eb}
.badge.completed,.badge.done{background:#d8f0dd;color:#1b6b2f}.badge.cached{background:#e1ecf7;color:#24507f}
.badge.running{background:#fff1c9;color:#7a5600}.badge.failed{background:#fadcdc;color:#9b1c1c}
.badge.stale,.badge.retrying{background:#fde7d4;color:#8a4b12}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 12px}
.card{background:#fff;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#5b6470;font-size:12px}
.bar{display:inline-block;width:120px;height:9px;background:#e3e6ea;vertical-align:middle;margin-right:6px}
.bar i{display:block;height:100%;background:#3b82c4}
.muted{color:#6b7280}.note{color:#6b7280;font-size:12px}
input[type=search]{padding:5px 8px;width:320px;border:1px solid #c5ccd4}
pre{background:#fff;padding:10px;overflow:auto;border:1px solid #e3e6ea;font-size:12px}
.report img{max-width:100%;background:#fff}.report table{font-size:13px}
form.curves{background:#fff;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:12px}
form.curves label{margin-right:12px;white-space:nowrap}
.error{background:#fff4f4;border-left:4px solid #c53030;padding:10px 14px}
svg{background:#fff;max-width:100%;height:auto}
"""

/// Client-side sorting (click a header; cells sort by `data-v` when numeric) and filtering (every word typed
/// must appear in the row) of `table.sortable`.
let sortFilterScript = """
document.querySelectorAll('table.sortable').forEach(function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){th.addEventListener('click',function(){
    var asc=!th.classList.contains('asc');
    Array.prototype.forEach.call(ths,function(x){x.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    var rows=Array.prototype.slice.call(t.tBodies[0].rows);
    function key(r){var c=r.cells[i];var v=c.getAttribute('data-v');if(v!==null&&v!==''&&!isNaN(v))return parseFloat(v);
      var tx=c.textContent.trim();return isNaN(tx)||tx===''?tx.toLowerCase():parseFloat(tx);}
    rows.sort(function(a,b){var x=key(a),y=key(b);
      if(typeof x!==typeof y){return (typeof x==='number'?-1:1)*(asc?1:-1);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
    var tb=t.tBodies[0];rows.forEach(function(r){tb.appendChild(r);});
  });});
});
var f=document.getElementById('filter');
if(f){f.addEventListener('input',function(){
  var words=f.value.toLowerCase().split(/\\s+/).filter(function(w){return w;});var shown=0;
  document.querySelectorAll('table.sortable tbody tr').forEach(function(r){
    var tx=r.textContent.toLowerCase();var ok=words.every(function(w){return tx.indexOf(w)>=0;});
    r.style.display=ok?'':'none';if(ok)shown++;});
  var c=document.getElementById('shown');if(c)c.textContent=shown;
});}
"""

/// The live view reloads its `#live` block from `?fragment=1` every 2 s (no page reload).
let livePollScript = """
function poll(){fetch(location.pathname+'?fragment=1',{cache:'no-store'}).then(function(r){return r.text();})
.then(function(t){document.getElementById('live').innerHTML=t;}).catch(function(){});}
setInterval(poll,2000);
"""

/// The trials page's filter box: while typing (300 ms after the last key) the table block is reloaded from the server
/// with the filter (`?…&fragment=1`, first page) and the address updated, so a reload or a shared link shows the same rows.
/// Without scripts the box is a form (Enter submits it); sorting and paging are plain links.
let trialsFilterScript = """
var f=document.getElementById('filter'),form=document.getElementById('trials-query'),timer=null;
function query(){var p=[];Array.prototype.forEach.call(form.elements,function(e){if(e.name&&e.value)p.push(encodeURIComponent(e.name)+'='+encodeURIComponent(e.value));});return p.join('&');}
function reload(){var q=query();fetch(location.pathname+'?'+q+(q?'&':'')+'fragment=1',{cache:'no-store'}).then(function(r){return r.text();})
.then(function(t){document.getElementById('trials-block').innerHTML=t;history.replaceState(null,'',location.pathname+(q?'?'+q:''));}).catch(function(){});}
if(f&&form){f.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(reload,300);});}
"""

/// The trial page's loss-term diagnostics, fetched after the page has shown.
let loadTermsScript = """
var t=document.getElementById('terms');
if(t){fetch(t.getAttribute('data-src'),{cache:'no-store'}).then(function(r){return r.text();}).then(function(x){t.innerHTML=x;}).catch(function(){});}
"""
