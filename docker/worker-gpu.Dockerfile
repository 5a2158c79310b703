# syntax=docker/dockerfile:1.7
# The GPU embedding worker, in two flavours (build targets). Build from the repository root:
#
#   docker build -f docker/worker-gpu.Dockerfile -t lookalike-worker-gpu .                     # onnx-cuda (default)
#   docker build -f docker/worker-gpu.Dockerfile --target tfjs-node-gpu -t lookalike-worker-tfjs-gpu .
#
# onnx-cuda:      onnxruntime-node's CUDA execution provider; CUDA 12 + cuDNN 9 base. The provider
#                 libraries are not in the npm package: its install script fetches them (NuGet,
#                 Microsoft.ML.OnnxRuntime.Gpu.Linux) when ONNXRUNTIME_NODE_INSTALL=cuda12.
# tfjs-node-gpu:  @tensorflow/tfjs-node-gpu 4.22.0 (libtensorflow 2.9.1, downloaded by its install
#                 script); needs CUDA 11.2 + cuDNN 8.1 exactly: with CUDA 12 it silently runs on CPU.
#
# Both need the NVIDIA driver on the host and the NVIDIA container toolkit (compose: a device
# reservation; Kubernetes: the NVIDIA device plugin and `nvidia.com/gpu` in the limits).
# BAKE_MODEL=true puts the verified Keras DenseNet121 weights into /data/models at build time.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0
ARG CUDA12_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ARG CUDA11_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
ARG TFJS_NODE_GPU_VERSION=4.22.0

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

# ---- dependencies, shared by both flavours (node_modules are glibc builds that run on Ubuntu) --
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY --from=manifests /out/ ./
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
RUN find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 ! -name linux -exec rm -rf {} +

# ---- onnx-cuda: fetch ONNX Runtime's CUDA 12 provider libraries ------------------------------
FROM deps AS deps-onnx-cuda
# The environment variable wins over .npmrc's `onnxruntime-node-install=skip`. The script is run by
# hand so that it runs whatever npm's install-script policy is, and the files are checked after.
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do \
      test -s "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/$f" || { echo "missing $f" >&2; exit 1; }; \
    done

# ---- tfjs-node-gpu: the package and its libtensorflow GPU build ------------------------------
FROM deps AS deps-tfjs-node-gpu
ARG TFJS_NODE_GPU_VERSION
# Not a dependency of the project (it does not install without network and CUDA 11): added here
# only. Its install script downloads libtensorflow 2.9.1 (GPU) and the prebuilt N-API addon;
# TFJS_NODE_CDN_STORAGE / TFJS_NODE_BASE_URI point it at a mirror.
RUN --mount=type=cache,target=/root/.npm \
    set -eu; \
    npm install --no-save --omit=dev "@tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION}"; \
    pkg=node_modules/@tensorflow/tfjs-node-gpu; \
    if ! ls $pkg/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then (cd $pkg && PATH="/app/node_modules/.bin:$PATH" node scripts/install.js gpu download); fi; \
    ls $pkg/lib/napi-v*/tfjs_binding.node; \
    ls $pkg/lib/napi-v*/libtensorflow.so* $pkg/deps/lib/libtensorflow.so* 2>/dev/null | grep -q . \
      || { echo "libtensorflow was not installed" >&2; exit 1; }; \
    [ -e node_modules/tsx ] || ln -s /opt/tsx/node_modules/tsx node_modules/tsx

# ---- the node binary, copied into the CUDA images -------------------------------------------
FROM ${NODE_IMAGE} AS node

# ---- flavour: tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1) -----------------------------------------
FROM ${CUDA11_IMAGE} AS tfjs-node-gpu
ARG APP_UID=10001
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid ${APP_UID} app \
 && useradd --system --uid ${APP_UID} --gid app --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /data/models && chown -R app:app /data
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    WORKER_HTTP_PORT=8080 \
    MODEL_RUNTIME=tfjs-node-gpu \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=1
COPY --from=deps-tfjs-node-gpu /opt/tsx /opt/tsx
COPY --from=deps-tfjs-node-gpu /app /app
COPY tsconfig.json ./
COPY libs ./libs
COPY apps ./apps
COPY scripts ./scripts
RUN node --import tsx --input-type=module -e "await import('@lookalike/worker/app'); await import('@lookalike/worker/embedder')"
USER app:app
ARG BAKE_MODEL=false
RUN if [ "$BAKE_MODEL" = "true" ]; then node --import tsx scripts/model-fetch.ts; fi
EXPOSE 8080
# TF of this age JIT-compiles PTX on GPUs newer than it knows (minutes at first start): long start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.WORKER_HTTP_PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]

# ---- flavour: onnx-cuda (CUDA 12 + cuDNN 9); the last stage, so the default target ----------
FROM ${CUDA12_IMAGE} AS onnx-cuda
ARG APP_UID=10001
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid ${APP_UID} app \
 && useradd --system --uid ${APP_UID} --gid app --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /data/models && chown -R app:app /data
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    WORKER_HTTP_PORT=8080 \
    MODEL_RUNTIME=onnx-cuda
COPY --from=deps-onnx-cuda /opt/tsx /opt/tsx
COPY --from=deps-onnx-cuda /app /app
COPY tsconfig.json ./
COPY libs ./libs
COPY apps ./apps
COPY scripts ./scripts
RUN node --import tsx --input-type=module -e "await import('@lookalike/worker/app'); await import('@lookalike/worker/embedder')"
USER app:app
ARG BAKE_MODEL=false
RUN if [ "$BAKE_MODEL" = "true" ]; then node --import tsx scripts/model-fetch.ts; fi
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.WORKER_HTTP_PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
