FROM python:3.11-slim
WORKDIR /srv/wghub
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY workers ./workers
RUN pip install --no-cache-dir -e .
USER nobody
EXPOSE 8000
CMD ["wg", "api", "--host", "0.0.0.0", "--port", "8000"]
