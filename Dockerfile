FROM python:3.11-slim
WORKDIR /app
# setup.py fetches the front-end files no PyPI package ships (scripts/vendor_assets.py).
COPY pyproject.toml README.md setup.py ./
COPY scripts/vendor_assets.py ./scripts/
COPY cdp ./cdp
COPY ingest ./ingest
COPY showroom ./showroom
COPY segmentation ./segmentation
COPY templates ./templates
RUN pip install --no-cache-dir .
EXPOSE 8000
# `cdp serve` applies pending migrations before it starts listening.
CMD ["cdp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
