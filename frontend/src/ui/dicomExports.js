/**
 * "Results as DICOM": the study's result as the objects a PACS shows (SR, SEG, a Parametric Map
 * per anomaly map), each downloadable, and (for roles that may) sent to one of the site's DICOM
 * nodes. The objects are made by a worker on the first ask: the card says so and asks again.
 */
const POLL_MS = 3000;
const POLL_LIMIT = 40;

function formatBytes(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`;
}

async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}

function renderObjects(card, body) {
  const list = card.querySelector('[data-dicom=objects]');
  list.replaceChildren(
    ...body.objects.map((obj) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = obj.url;
      link.textContent = obj.label;
      link.setAttribute('download', '');
      item.append(link, ` · ${formatBytes(obj.size)}`);
      return item;
    }),
  );
  const sent = card.querySelector('[data-dicom=deliveries]');
  sent.replaceChildren(
    ...body.deliveries.map((d) => {
      const item = document.createElement('li');
      item.textContent = `${d.node}: ${d.status}${d.via ? ` (${d.via})` : ''}`;
      item.title = d.detail || '';
      return item;
    }),
  );
}

async function startSending(card, config) {
  const { status, body } = await getJson(config.dicomNodesUrl);
  const nodes = status === 200 ? body.filter((n) => n.can_receive_results) : [];
  if (!nodes.length) {
    return;
  }
  const select = card.querySelector('[data-dicom=node]');
  select.replaceChildren(
    ...nodes.map((n) => {
      const option = document.createElement('option');
      option.value = n.name;
      option.textContent = `${n.name} (${n.ae_title})`;
      return option;
    }),
  );
  const form = card.querySelector('[data-dicom=send]');
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = card.querySelector('[data-dicom=message]');
    const response = await fetch(config.dicomSendUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': config.csrfToken },
      body: JSON.stringify({ node: select.value }),
    });
    const answer = await response.json().catch(() => ({}));
    message.textContent =
      response.status === 202
        ? `Queued for ${select.value}; its status shows below.`
        : `Not sent: ${answer.node || answer.detail || response.statusText}`;
    setTimeout(() => refresh(card, config, 0), POLL_MS);
  });
}

async function refresh(card, config, attempt) {
  const message = card.querySelector('[data-dicom=message]');
  const { status, body } = await getJson(config.dicomObjectsUrl);
  if (status === 200 || status === 202) {
    renderObjects(card, body);
  }
  if (status === 200) {
    card.dataset.state = 'ready';
    if (body.deliveries.some((d) => d.status === 'pending') && attempt < POLL_LIMIT) {
      setTimeout(() => refresh(card, config, attempt + 1), POLL_MS);
    }
    return;
  }
  if (status === 202 && attempt < POLL_LIMIT) {
    card.dataset.state = 'making';
    message.textContent = 'Making the DICOM objects…';
    setTimeout(() => refresh(card, config, attempt + 1), POLL_MS);
    return;
  }
  card.dataset.state = 'none';
  message.textContent = status === 404 ? 'No result yet.' : `Not available (${body.detail || status}).`;
}

export function startDicomExports(doc, config) {
  const card = doc.querySelector('[data-panel=dicom]');
  if (!card || !config.dicomObjectsUrl) {
    return;
  }
  card.hidden = false;
  refresh(card, config, 0).then(() => {
    if (config.dicomNodesUrl) {
      startSending(card, config);
    }
  });
}
