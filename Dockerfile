# Lightning Stream (TypeScript) container image.
#   podman build --format docker -t lightningstream .      (docker build -t lightningstream .)
# Runs `lightningstream` as the non-root user lightningstream (uid 953); the default command syncs with
# /etc/lightningstream/config.yaml. The health check asks /healthz on the status server: set
# `http: { address: 127.0.0.1:8500 }` (or :8500) in the config, or another URL in LIGHTNINGSTREAM_HEALTHZ_URL.
# An LMDB shared with another container (PowerDNS): give both the same uid and a volume for the LMDB directory,
# and pass --minimum-pid (see docker-compose.yml).

# Build: the C addons (against this Node's headers and Debian's liblmdb/libdeflate) and the TypeScript.
FROM docker.io/library/node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 liblmdb-dev libdeflate-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY native/ native/
COPY src/ src/
COPY bin/ bin/
COPY scripts/bundle.mjs scripts/
# npm ci runs the install script (node-gyp: the addons) and prepare (tsc: src/ only here, then the bundle). Behind a TLS-inspecting
# proxy, pass its CA bundle: --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt (not kept in the image).
RUN --mount=type=secret,id=ca-certificates,target=/run/secrets/ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi \
 && npm ci --silent \
 && npm prune --omit=dev --silent \
 && rm -rf build/Release/obj.target build/Release/.deps

# Runtime: Node, the runtime libraries of the addons, the compiled program and its production dependencies.
FROM docker.io/library/node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends liblmdb0 libdeflate0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 953 lightningstream \
 && useradd --system --uid 953 --gid 953 --home-dir /var/lib/lightningstream --create-home lightningstream
WORKDIR /opt/lightningstream
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/bin/ bin/
COPY --from=build /src/dist/src/ dist/src/
COPY --from=build /src/dist/bundle/ dist/bundle/
COPY --from=build /src/build/Release/ build/Release/
COPY src/snapshot/snapshot.proto src/snapshot/
COPY src/status/assets/ src/status/assets/
RUN ln -s /opt/lightningstream/bin/lightningstream.js /usr/local/bin/lightningstream \
 && lightningstream --help >/dev/null
ENV NODE_ENV=production LIGHTNINGSTREAM_HEALTHZ_URL=http://127.0.0.1:8500/healthz
USER lightningstream
WORKDIR /var/lib/lightningstream
EXPOSE 8500
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.LIGHTNINGSTREAM_HEALTHZ_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["lightningstream"]
CMD ["--config", "/etc/lightningstream/config.yaml", "sync"]
