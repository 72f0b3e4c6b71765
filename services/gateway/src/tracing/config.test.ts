import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tracingConfigFromEnv } from './config.js';

test('tracing is off without a ratio above 0 or without an endpoint', () => {
  assert.equal(tracingConfigFromEnv({}), null);
  assert.equal(tracingConfigFromEnv({ TP_OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/v1/traces' }), null);
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), null);
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.5' }), null);
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), null);
});

test('endpoints: TP_ and the _TRACES_ variable are the full URL, the OTEL base gets /v1/traces', () => {
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.1', TP_OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/custom' })!.endpoint, 'http://c:4318/custom');
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.1', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/t' })!.endpoint, 'https://c/t');
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })!.endpoint, 'http://c:4318/v1/traces');
  assert.equal(tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/base/' })!.endpoint, 'http://c:4318/base/v1/traces');
  const c = tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0.25', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20x, x-team=gw' });
  assert.deepEqual(c, { endpoint: 'http://c:4318/v1/traces', ratio: 0.25, headers: { authorization: 'Bearer x', 'x-team': 'gw' } });
});

test('bad settings are refused at startup', () => {
  for (const r of ['-0.1', '1.5', 'abc', 'NaN']) {
    assert.throws(() => tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: r, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }), /TP_TRACE_SAMPLE_RATIO/);
  }
  assert.throws(() => tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }), /must be http or https|not a URL/);
  assert.throws(() => tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }), /not a URL/);
  assert.throws(() => tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }), /OTEL_TRACES_EXPORTER/);
});
