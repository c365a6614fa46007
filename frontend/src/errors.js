/**
 * Errors the viewer shows to a person: a title, what happened, and what they can do.
 */
export class ViewerError extends Error {
  constructor(title, detail, { status = null, action = null } = {}) {
    super(`${title}: ${detail}`);
    this.name = 'ViewerError';
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.action = action; // { label, href } or null
  }
}

/** Turns an HTTP failure of `what` into a ViewerError a radiologist can act on. */
export function httpError(status, what, config) {
  if (status === 401) {
    return new ViewerError('Signed out', 'Your session has ended. Sign in again to open this study.', {
      status,
      action: { label: 'Sign in', href: config.loginUrl },
    });
  }
  if (status === 403) {
    return new ViewerError('Not allowed', 'Your role does not allow reading study images.', { status });
  }
  if (status === 404) {
    return new ViewerError(
      'Study not found',
      'This study does not exist or is not shared with you (ask its cohort coordinator).',
      { status },
    );
  }
  const reason = status ? `the server answered HTTP ${status}` : 'the server could not be reached';
  return new ViewerError('Failed to load', `Loading ${what} failed: ${reason}.`, {
    status,
    action: { label: 'Try again', href: window.location.href },
  });
}

/** Any thrown value as a ViewerError. */
export function asViewerError(err) {
  if (err instanceof ViewerError) {
    return err;
  }
  return new ViewerError('The viewer stopped', err?.message || String(err), {
    action: { label: 'Reload', href: window.location.href },
  });
}
