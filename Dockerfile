FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cdp ./cdp
COPY ingest ./ingest
COPY showroom ./showroom
COPY segmentation ./segmentation
COPY templates ./templates
RUN pip install --no-cache-dir .
EXPOSE 8000
# `cdp serve` applies pending migrations before it starts listening.
CMD ["cdp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
