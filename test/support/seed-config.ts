/**
 * The seed's http-level configuration (map, upstream, server with the
 * WebSocket location), for tests that need it with their own ports.
 */

export function seedHttp(backendPort: number, listen: string | number): string {
  return `
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream websocket { server 127.0.0.1:${backendPort}; }
  server {
    listen ${listen};
    location / {
      proxy_pass http://websocket;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
  }`;
}
