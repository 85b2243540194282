// Apply the saved colour theme before first paint, so the page never flashes the wrong colours.
try { document.documentElement.dataset.theme = localStorage.getItem("omnidex-theme") || "auto"; } catch (e) { /* storage off */ }
