// The app routes on the client: every /app/... path is served this page's index.html.
const root = globalThis.document?.getElementById("app");
if (root) root.textContent = `route ${globalThis.location.pathname}`;
