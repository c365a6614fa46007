/**
 * The worklist item API (webapp/worklists): the item with its neighbours and your current read,
 * starting it (the server's reading clock), and recording the read. Errors carry the API's own
 * words: its "detail", or "field: message" for each field it refused.
 */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const fill = (template, id) => template.replace('{id}', String(id));

/** DRF error bodies as one sentence: {"detail": ...} or {"field": ["...", ...], ...}. */
export function apiMessage(body, status) {
  if (body && typeof body === 'object') {
    if (typeof body.detail === 'string') {
      return body.detail;
    }
    const parts = Object.entries(body).map(([field, problems]) => {
      const text = Array.isArray(problems) ? problems.flat(3).join('; ') : String(problems);
      return field === 'non_field_errors' ? text : `${field.replace(/_/g, ' ')}: ${text}`;
    });
    if (parts.length) {
      return parts.join(' · ');
    }
  }
  return status ? `The server answered HTTP ${status}.` : 'The server could not be reached.';
}

async function call(url, { method = 'GET', body, config } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(method !== 'GET' ? { 'X-CSRFToken': config.csrfToken ?? '' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, 'The server could not be reached: check the connection and try again.');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    /* an empty or HTML body */
  }
  if (!response.ok) {
    if (response.status === 401 || (response.status === 403 && /credentials|CSRF/i.test(data?.detail ?? ''))) {
      throw new ApiError(response.status, `${apiMessage(data, response.status)} Sign in again, then reload.`);
    }
    throw new ApiError(response.status, apiMessage(data, response.status));
  }
  return data;
}

export const fetchItem = (config, id) => call(fill(config.itemUrlTemplate, id), { config });
export const startItem = (config, id) => call(fill(config.itemStartUrlTemplate, id), { method: 'POST', config });
export const submitRead = (config, id, read) =>
  call(fill(config.itemReadUrlTemplate, id), { method: 'POST', body: read, config });
export const itemViewerUrl = (config, id) => fill(config.itemViewerUrlTemplate, id);
