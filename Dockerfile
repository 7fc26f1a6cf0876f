# docker-dedup's container image: the registry on the embedded store, the store on a volume.
#
#   docker build -t docker-dedup .
#   docker run -d -p 5000:5000 -v docker-dedup-data:/var/lib/docker-dedup docker-dedup
#
# Settings come from DOCKER_DEDUP_* environment variables (docker run -e DOCKER_DEDUP_MAX_UPLOADS=64),
# or a config file mounted into the container (-e DOCKER_DEDUP_CONFIG=/etc/docker-dedup/config.yaml);
# see the README's "The config file". Logs are JSON lines on stderr (`docker logs`).
# It needs only the classic builder (no BuildKit features), so any dockerd builds it.

# The build stage compiles zstd-napi's addon (gcc, make, python3), which the full image has and
# the slim one lacks; both are Debian 12 with the same glibc, so the addon runs in the slim one.
ARG BUILD_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# node-gyp builds against the image's own Node.js headers instead of downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
# Empty in the repository: for a build without the npm registry, scripts/deploy/npm-cache.sh fills
# it with the packages of package-lock.json, which --prefer-offline then takes from there.
COPY deploy/npm-cache/ /root/.npm/_cacache/
RUN npm ci --no-audit --no-fund --prefer-offline
COPY tsconfig.json tsconfig.src.json ./
COPY src ./src
RUN npx tsc -p tsconfig.src.json && npm prune --omit=dev --no-audit --no-fund --prefer-offline

FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production \
    DOCKER_DEDUP_STORE=/var/lib/docker-dedup \
    DOCKER_DEDUP_LISTEN=0.0.0.0:5000
WORKDIR /opt/docker-dedup
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
# A user of its own, not root; the store (and the gzip cache inside it) is the one place it writes.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/docker-dedup --shell /usr/sbin/nologin docker-dedup \
 && mkdir -p /var/lib/docker-dedup && chown docker-dedup:docker-dedup /var/lib/docker-dedup \
 && ln -s /opt/docker-dedup/dist/src/cli/main.js /usr/local/bin/docker-dedup
USER docker-dedup
VOLUME /var/lib/docker-dedup
EXPOSE 5000
# /healthz answers while the process serves; the address is the default DOCKER_DEDUP_LISTEN's
# (a container that moves it overrides this check too).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/docker-dedup/dist/src/cli/main.js"]
CMD ["serve"]
