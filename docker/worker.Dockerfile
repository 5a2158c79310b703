# syntax=docker/dockerfile:1.7
# The CPU embedding worker (apps/worker): ONNX Runtime's CPU provider (bundled in onnxruntime-node)
# or the tfjs wasm/cpu backends. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t lookalike-worker .
#   docker build -f docker/worker.Dockerfile --build-arg BAKE_MODEL=true -t lookalike-worker .
# BAKE_MODEL=true fetches and verifies the official Keras DenseNet121 weights (29 MB) into
# /data/models at build time; otherwise the worker fetches them into DATA_DIR/models on first start.

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

# ---- dependencies -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY --from=manifests /out/ ./
# .npmrc says onnxruntime-node-install=skip: the CPU provider ships in the package; only the CUDA
# provider would be downloaded, and this image has no GPU.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev
RUN --mount=type=cache,target=/root/.npm \
    set -eu; \
    if [ ! -e node_modules/tsx ]; then \
      v() { node -p "require('./package-lock.json').packages['node_modules/$1'].version"; }; \
      TSX="tsx@$(v tsx)"; ESBUILD="esbuild@$(v esbuild)"; \
      mkdir -p /opt/tsx && cd /opt/tsx && echo '{"private":true}' > package.json && \
      npm install --omit=dev --no-package-lock "$TSX" "$ESBUILD" && cd /app && \
      ln -s /opt/tsx/node_modules/tsx node_modules/tsx; \
    else mkdir -p /opt/tsx; fi
# onnxruntime-node carries binaries for five platforms (288 MB); keep Linux's. The check names the
# build's own architecture (x64, or arm64 when built on an arm64 host such as Apple silicon).
RUN find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 ! -name linux -exec rm -rf {} + \
 && test -f "node_modules/onnxruntime-node/bin/napi-v6/linux/$(node -p process.arch)/onnxruntime_binding.node"

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
 && useradd --system --uid ${APP_UID} --gid app --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /data/models && chown -R app:app /data
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    WORKER_HTTP_PORT=8080
COPY --from=deps /opt/tsx /opt/tsx
COPY --from=deps /app /app
COPY tsconfig.json ./
COPY libs ./libs
COPY apps ./apps
COPY scripts ./scripts
RUN node --import tsx --input-type=module -e "await import('@lookalike/worker/app'); await import('@lookalike/worker/embedder')"
USER app:app
ARG BAKE_MODEL=false
RUN if [ "$BAKE_MODEL" = "true" ]; then node --import tsx scripts/model-fetch.ts; fi
EXPOSE 8080
# /readyz (WORKER_HTTP_PORT): 200 once the model is warm and the BullMQ worker takes jobs. The start
# period covers the first start's weights download and the warm-up.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.WORKER_HTTP_PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
