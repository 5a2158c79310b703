# syntax=docker/dockerfile:1.7
# The GraphQL API (apps/api). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t lookalike-api .
# The same image runs the one-shot schema migration: `node --import tsx scripts/migrate.ts`.
#
# No build step: the TypeScript runs through tsx, as `npm run start:api` does.

# Pinned by digest (node 20.20.2, Debian bookworm, slim; multi-arch index).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# ---- the package manifests alone (every workspace's package.json, the lockfile, .npmrc) ------
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
# Rebuilt on any source change, but its output changes only with the manifests, so the `npm ci`
# layer below stays cached. Finds workspaces by their package.json: no list here to keep up to date.
RUN mkdir -p /out \
 && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /out/ \; \
 && cp package-lock.json /out/ \
 && if [ -f .npmrc ]; then cp .npmrc /out/; fi

# ---- dependencies: production packages only, from the lockfile --------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev
# tsx runs the code in production but is a root devDependency: install the lockfile's exact version
# (and its esbuild) on the side and link it in, unless it is already a production dependency.
RUN --mount=type=cache,target=/root/.npm \
    set -eu; \
    if [ ! -e node_modules/tsx ]; then \
      v() { node -p "require('./package-lock.json').packages['node_modules/$1'].version"; }; \
      TSX="tsx@$(v tsx)"; ESBUILD="esbuild@$(v esbuild)"; \
      mkdir -p /opt/tsx && cd /opt/tsx && echo '{"private":true}' > package.json && \
      npm install --omit=dev --no-package-lock "$TSX" "$ESBUILD" && cd /app && \
      ln -s /opt/tsx/node_modules/tsx node_modules/tsx; \
    else mkdir -p /opt/tsx; fi
# The API never loads a model: the model runtimes (~600 MB) stay out of its image.
RUN rm -rf node_modules/onnxruntime-node node_modules/@tensorflow node_modules/h5wasm

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
 && useradd --system --uid ${APP_UID} --gid app --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /data && chown app:app /data
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/data
COPY --from=deps /opt/tsx /opt/tsx
COPY --from=deps /app /app
COPY tsconfig.json ./
COPY libs ./libs
COPY apps ./apps
COPY scripts ./scripts
# Fail the build, not the rollout, when the API's module graph does not load without the model
# packages (it loads no config and opens no connection).
RUN node --import tsx --input-type=module -e "await import('@lookalike/api/app'); await import('@lookalike/shared/db/migrate')"
USER app:app
EXPOSE 4000
# 200 once Redis answers and a model is registered (a worker has started once); 503 before.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself is PID 1 (no npm/tsx wrapper), so SIGTERM reaches the API's shutdown handler.
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
