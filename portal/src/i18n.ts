/**
 * Every string the portal shows, in each language it ships. The English catalogue is the
 * reference: `Messages` is its type, so a language that misses a key, or has one too many,
 * does not compile. Placeholders are `{name}`, filled by `t(key, { name })`.
 */

const en = {
  'service.name': 'Consular services of the bloc',
  skip: 'Skip to main content',
  'lang.label': 'Language',
  'nav.label': 'Menu',
  'nav.start': 'Start',
  'nav.account': 'Your applications',
  'nav.presence': 'Register where you are',
  'nav.apply': 'Apply for a service',
  'footer.node': 'Served by node {name} of {state}',
  'footer.noNode': 'No node of the bloc answers at the moment',
  'footer.meta': 'Support links',
  'footer.docs': 'How this service works',
  'banner.title': 'Important',
  'banner.success': 'Success',
  'failover.moved':
    'The node you were using stopped answering. You are now served by node {name} of {state}.',
  'failover.none': 'No node of the bloc answers. Your key is safe in this browser: try again later.',

  'start.title': 'Get help from your embassy, wherever you are',
  'start.lead':
    'Any member state of the bloc can help you when you are abroad. Register once and ask for help at any of the bloc’s offices.',
  'start.youCan': 'You can use this service to:',
  'start.item.enrol': 'enrol, with a key made and kept in this browser',
  'start.item.presence': 'tell your embassy where you are staying abroad',
  'start.item.apply': 'apply for an emergency travel document or another consular service, and follow it',
  'start.button': 'Start now',
  'start.enrolled': 'You are enrolled in this browser.',
  'start.continue': 'See your applications',

  'enrol.title': 'Enrol',
  'enrol.lead': 'Your personal details are signed with a key made in this browser. The key never leaves it.',
  'enrol.given': 'Given names',
  'enrol.family': 'Family name',
  'enrol.birth': 'Date of birth',
  'enrol.birthHint': 'For example, 27 3 1990',
  'date.day': 'Day',
  'date.month': 'Month',
  'date.year': 'Year',
  'enrol.nationality': 'Nationality',
  'enrol.document': 'Passport or identity card number',
  'enrol.documentHint': 'Letters and numbers only, for example X1234567',
  'enrol.expires': 'Expiry date of the document',
  'enrol.expiresHint': 'For example, 30 6 2031',
  'enrol.email': 'Email address',
  'enrol.consent': 'I agree that the bloc’s consular officers use these details to assist me',
  'enrol.submit': 'Enrol',
  'enrol.done': 'You are enrolled',
  'enrol.doneBody': 'Your citizen number is {id}.',

  'presence.title': 'Register where you are',
  'presence.lead': 'Your embassy uses this to contact you in a crisis.',
  'presence.country': 'Country',
  'presence.countryHint': 'Two-letter country code, for example KE for Kenya',
  'presence.region': 'Town or region',
  'presence.address': 'Address (optional)',
  'presence.submit': 'Register presence',
  'presence.done': 'Your presence in {country} is registered',

  'apply.title': 'Apply for a consular service',
  'apply.type': 'What do you need?',
  'apply.details': 'Tell us what happened (optional)',
  'apply.detailsHint': 'Do not include your passport number here',
  'apply.submit': 'Send application',
  'apply.done': 'Your application has been sent',

  'case.emergency-travel-document': 'Emergency travel document',
  'case.passport-renewal': 'Passport renewal',
  'case.lost-passport': 'Lost or stolen passport',
  'case.document-attestation': 'Attestation of a document',
  'case.birth-registration': 'Registration of a birth abroad',

  'state.submitted': 'Submitted',
  'state.in-review': 'In review',
  'state.needs-info': 'Information needed',
  'state.approved': 'Approved',
  'state.rejected': 'Rejected',
  'state.issued': 'Issued',
  'state.closed': 'Closed',
  'state.withdrawn': 'Withdrawn',

  'account.title': 'Your applications',
  'account.id': 'Citizen number',
  'account.name': 'Name',
  'account.nationality': 'Nationality',
  'account.presence': 'Where you are',
  'account.noPresence': 'Not registered',
  'account.cases': 'Applications',
  'account.noCases': 'You have not applied for anything yet.',
  'account.opened': 'Opened',
  'account.status': 'Status',
  'account.refresh': 'Check for updates',
  'account.notYet': 'The node has not received your enrolment yet. Check again in a moment.',

  'notEnrolled.title': 'You are not enrolled in this browser',
  'notEnrolled.body': 'Enrol first: your key is kept in the browser you enrol with.',
  'notEnrolled.link': 'Enrol now',

  'error.summary': 'There is a problem',
  'error.required': 'Enter {field}',
  'error.date': '{field} must be a real date',
  'error.document': 'Enter the number using only capital letters and numbers (3 to 32)',
  'error.email': 'Enter an email address in the correct format, like name@example.org',
  'error.country': 'Enter a two-letter country code, like KE',
  'error.consent': 'Tick the box to agree, or we cannot assist you',
  'error.choose': 'Select what you need',
  'error.refused': 'The node refused this: {code}',
  'error.network': 'No node of the bloc answered. Nothing was sent; try again.',
  'notFound.title': 'Page not found',
  'footer.change': 'Use another node',
  'nodes.title': 'Choose the node you use',
  'nodes.lead':
    'Every node of the bloc can serve you and holds your applications. The page moves to another node by itself when the one it uses stops answering.',
  'nodes.legend': 'Nodes of the bloc',
  'nodes.option': 'Node {name} of {state}',
  'nodes.down': '{url}: not answering',
  'nodes.submit': 'Use this node',
  'nodes.done': 'You now use node {name} of {state}.',
  'error.node': 'Select a node that answers',
  'passkey.title': 'Keep a way back in',
  'passkey.body':
    'Create a passkey on this device or your phone. It keeps your key, encrypted, so that you can sign in on another device or browser with the passkey alone.',
  'passkey.create': 'Create a passkey',
  'passkey.done': 'Your passkey now keeps your key.',
  'passkey.row': 'Passkey',
  'passkey.set': 'Set up',
  'signin.title': 'Sign in with a passkey',
  'signin.body':
    'If you enrolled on another device or in another browser and made a passkey, use it to bring your key here.',
  'signin.button': 'Sign in with a passkey',
  'signin.done': 'You are signed in with your passkey.',
  'start.signin': 'Enrolled before, on another device?',
  'error.PASSKEY_UNSUPPORTED': 'This browser or passkey cannot keep your key. Try another passkey provider.',
  'error.PASSKEY_CANCELLED': 'No passkey was used. Try again when you are ready.',
  'error.PASSKEY_NO_BACKUP': 'This passkey does not hold a key for this service.',
  'error.PASSKEY_BACKUP_INVALID': 'The key kept by this passkey cannot be opened.',
  'error.notRegistered': 'The bloc does not know the key this passkey holds.',
  'nav.alerts': 'Crisis alerts',
  'alerts.title': 'Crisis alerts where you are',
  'alerts.none': 'There is no crisis alert where you are.',
  'alerts.noPresence': 'Register where you are to see the alerts that concern you.',
  'alerts.issued': 'Issued',
  'alerts.yourStatus': 'Your last check-in',
  'alerts.notYet': 'Not yet',
  'alerts.checkin': 'Check in',
  'severity.advisory': 'Advisory',
  'severity.warning': 'Warning',
  'severity.evacuation': 'Evacuation',
  'checkin.title': 'Tell your embassy how you are',
  'checkin.status': 'How are you?',
  'checkin.safe': 'I am safe',
  'checkin.needsHelp': 'I need help',
  'checkin.note': 'Anything your embassy should know (optional)',
  'checkin.submit': 'Send',
  'checkin.done': 'Your check-in was sent.',
  'welfare.safe': 'Safe',
  'welfare.needs-help': 'Needs help',
  'error.checkin': 'Select whether you are safe or need help',
  'offline.title': 'Saved in this browser',
  'offline.body':
    'You are offline. What you sent is signed and kept in this browser: it will be sent as soon as a connection returns.',
  'outbox.waiting': 'Waiting for a connection: {count} signed item(s) will be sent when you are back online.',
  'outbox.sent': 'Back online: what you saved was sent to the bloc.',
  'receipt.title': 'Receipt',
  'receipt.link': 'See the receipt',
  'receipt.help':
    'A node of the bloc signed this receipt when it had stored your record safely. Anyone with the bloc’s charter can check it, even offline.',
  'receipt.what': 'What',
  'receipt.record': 'Record',
  'receipt.node': 'Recorded by',
  'receipt.nodeName': 'Node {name} of {state}',
  'receipt.position': 'Place in the node’s record',
  'receipt.date': 'Received',
  'receipt.check': 'Signature',
  'receipt.verified': 'Verified against the bloc’s charter',
  'receipt.unverified': 'Does not verify',
  'receipt.qr': 'QR code of this receipt, for checking it offline',
  'receipt.print': 'Print this receipt',
  'receipt.none': 'This browser keeps no receipt for this record.',
} as const

export type MessageKey = keyof typeof en
export type Messages = { readonly [K in MessageKey]: string }

const fr: Messages = {
  'service.name': 'Services consulaires du bloc',
  skip: 'Aller au contenu principal',
  'lang.label': 'Langue',
  'nav.label': 'Menu',
  'nav.start': 'Accueil',
  'nav.account': 'Vos demandes',
  'nav.presence': 'Signaler où vous êtes',
  'nav.apply': 'Demander un service',
  'footer.node': 'Servi par le nœud {name} de {state}',
  'footer.noNode': 'Aucun nœud du bloc ne répond pour le moment',
  'footer.meta': 'Liens utiles',
  'footer.docs': 'Comment fonctionne ce service',
  'banner.title': 'Important',
  'banner.success': 'C’est fait',
  'failover.moved':
    'Le nœud que vous utilisiez ne répond plus. Vous êtes maintenant servi par le nœud {name} de {state}.',
  'failover.none': 'Aucun nœud du bloc ne répond. Votre clé reste dans ce navigateur : réessayez plus tard.',

  'start.title': 'Obtenir l’aide de votre ambassade, où que vous soyez',
  'start.lead':
    'Chaque État membre du bloc peut vous aider à l’étranger. Inscrivez-vous une fois et demandez de l’aide à n’importe quel bureau du bloc.',
  'start.youCan': 'Ce service vous permet de :',
  'start.item.enrol': 'vous inscrire, avec une clé créée et gardée dans ce navigateur',
  'start.item.presence': 'indiquer à votre ambassade où vous séjournez à l’étranger',
  'start.item.apply':
    'demander un titre de voyage d’urgence ou un autre service consulaire, et en suivre l’avancement',
  'start.button': 'Commencer',
  'start.enrolled': 'Vous êtes inscrit dans ce navigateur.',
  'start.continue': 'Voir vos demandes',

  'enrol.title': 'Inscription',
  'enrol.lead':
    'Vos données personnelles sont signées avec une clé créée dans ce navigateur. La clé ne le quitte jamais.',
  'enrol.given': 'Prénoms',
  'enrol.family': 'Nom de famille',
  'enrol.birth': 'Date de naissance',
  'enrol.birthHint': 'Par exemple, 27 3 1990',
  'date.day': 'Jour',
  'date.month': 'Mois',
  'date.year': 'Année',
  'enrol.nationality': 'Nationalité',
  'enrol.document': 'Numéro du passeport ou de la carte d’identité',
  'enrol.documentHint': 'Lettres et chiffres seulement, par exemple X1234567',
  'enrol.expires': 'Date d’expiration du document',
  'enrol.expiresHint': 'Par exemple, 30 6 2031',
  'enrol.email': 'Adresse e-mail',
  'enrol.consent': 'J’accepte que les agents consulaires du bloc utilisent ces données pour m’aider',
  'enrol.submit': 'M’inscrire',
  'enrol.done': 'Vous êtes inscrit',
  'enrol.doneBody': 'Votre numéro de citoyen est {id}.',

  'presence.title': 'Signaler où vous êtes',
  'presence.lead': 'Votre ambassade s’en sert pour vous joindre en cas de crise.',
  'presence.country': 'Pays',
  'presence.countryHint': 'Code du pays en deux lettres, par exemple KE pour le Kenya',
  'presence.region': 'Ville ou région',
  'presence.address': 'Adresse (facultatif)',
  'presence.submit': 'Signaler ma présence',
  'presence.done': 'Votre présence en {country} est enregistrée',

  'apply.title': 'Demander un service consulaire',
  'apply.type': 'De quoi avez-vous besoin ?',
  'apply.details': 'Dites-nous ce qui s’est passé (facultatif)',
  'apply.detailsHint': 'N’indiquez pas ici le numéro de votre passeport',
  'apply.submit': 'Envoyer la demande',
  'apply.done': 'Votre demande a été envoyée',

  'case.emergency-travel-document': 'Titre de voyage d’urgence',
  'case.passport-renewal': 'Renouvellement du passeport',
  'case.lost-passport': 'Passeport perdu ou volé',
  'case.document-attestation': 'Légalisation d’un document',
  'case.birth-registration': 'Transcription d’une naissance à l’étranger',

  'state.submitted': 'Envoyée',
  'state.in-review': 'En cours d’examen',
  'state.needs-info': 'Informations demandées',
  'state.approved': 'Acceptée',
  'state.rejected': 'Refusée',
  'state.issued': 'Délivrée',
  'state.closed': 'Close',
  'state.withdrawn': 'Retirée',

  'account.title': 'Vos demandes',
  'account.id': 'Numéro de citoyen',
  'account.name': 'Nom',
  'account.nationality': 'Nationalité',
  'account.presence': 'Où vous êtes',
  'account.noPresence': 'Non signalé',
  'account.cases': 'Demandes',
  'account.noCases': 'Vous n’avez encore rien demandé.',
  'account.opened': 'Ouverte le',
  'account.status': 'État',
  'account.refresh': 'Vérifier les mises à jour',
  'account.notYet': 'Le nœud n’a pas encore reçu votre inscription. Réessayez dans un instant.',

  'notEnrolled.title': 'Vous n’êtes pas inscrit dans ce navigateur',
  'notEnrolled.body':
    'Inscrivez-vous d’abord : votre clé est gardée dans le navigateur utilisé pour l’inscription.',
  'notEnrolled.link': 'M’inscrire',

  'error.summary': 'Il y a un problème',
  'error.required': 'Indiquez : {field}',
  'error.date': '{field} doit être une date réelle',
  'error.document': 'Saisissez le numéro en majuscules et chiffres seulement (3 à 32)',
  'error.email': 'Saisissez une adresse e-mail valide, comme nom@example.org',
  'error.country': 'Saisissez un code de pays en deux lettres, comme KE',
  'error.consent': 'Cochez la case pour accepter, sinon nous ne pouvons pas vous aider',
  'error.choose': 'Choisissez ce dont vous avez besoin',
  'error.refused': 'Le nœud a refusé : {code}',
  'error.network': 'Aucun nœud du bloc n’a répondu. Rien n’a été envoyé ; réessayez.',
  'notFound.title': 'Page introuvable',
  'footer.change': 'Utiliser un autre nœud',
  'nodes.title': 'Choisir le nœud utilisé',
  'nodes.lead':
    'Chaque nœud du bloc peut vous servir et détient vos demandes. La page passe d’elle-même à un autre nœud quand celui qu’elle utilise ne répond plus.',
  'nodes.legend': 'Nœuds du bloc',
  'nodes.option': 'Nœud {name} de {state}',
  'nodes.down': '{url} : ne répond pas',
  'nodes.submit': 'Utiliser ce nœud',
  'nodes.done': 'Vous utilisez maintenant le nœud {name} de {state}.',
  'error.node': 'Choisissez un nœud qui répond',
  'passkey.title': 'Garder un moyen de revenir',
  'passkey.body':
    'Créez une clé d’accès sur cet appareil ou votre téléphone. Elle garde votre clé, chiffrée, pour que vous puissiez vous connecter sur un autre appareil ou navigateur avec la seule clé d’accès.',
  'passkey.create': 'Créer une clé d’accès',
  'passkey.done': 'Votre clé d’accès garde maintenant votre clé.',
  'passkey.row': 'Clé d’accès',
  'passkey.set': 'Créée',
  'signin.title': 'Se connecter avec une clé d’accès',
  'signin.body':
    'Si vous vous êtes inscrit sur un autre appareil ou navigateur et avez créé une clé d’accès, utilisez-la pour retrouver votre clé ici.',
  'signin.button': 'Se connecter avec une clé d’accès',
  'signin.done': 'Vous êtes connecté avec votre clé d’accès.',
  'start.signin': 'Déjà inscrit, sur un autre appareil ?',
  'error.PASSKEY_UNSUPPORTED':
    'Ce navigateur ou cette clé d’accès ne peut pas garder votre clé. Essayez un autre fournisseur de clés d’accès.',
  'error.PASSKEY_CANCELLED': 'Aucune clé d’accès n’a été utilisée. Réessayez quand vous serez prêt.',
  'error.PASSKEY_NO_BACKUP': 'Cette clé d’accès ne garde pas de clé pour ce service.',
  'error.PASSKEY_BACKUP_INVALID': 'La clé gardée par cette clé d’accès ne peut pas être ouverte.',
  'error.notRegistered': 'Le bloc ne connaît pas la clé que garde cette clé d’accès.',
  'nav.alerts': 'Alertes de crise',
  'alerts.title': 'Alertes de crise là où vous êtes',
  'alerts.none': 'Il n’y a pas d’alerte de crise là où vous êtes.',
  'alerts.noPresence': 'Signalez où vous êtes pour voir les alertes qui vous concernent.',
  'alerts.issued': 'Émise le',
  'alerts.yourStatus': 'Votre dernier signalement',
  'alerts.notYet': 'Pas encore',
  'alerts.checkin': 'Se signaler',
  'severity.advisory': 'Conseil',
  'severity.warning': 'Avertissement',
  'severity.evacuation': 'Évacuation',
  'checkin.title': 'Dites à votre ambassade comment vous allez',
  'checkin.status': 'Comment allez-vous ?',
  'checkin.safe': 'Je suis en sécurité',
  'checkin.needsHelp': 'J’ai besoin d’aide',
  'checkin.note': 'Ce que votre ambassade devrait savoir (facultatif)',
  'checkin.submit': 'Envoyer',
  'checkin.done': 'Votre signalement a été envoyé.',
  'welfare.safe': 'En sécurité',
  'welfare.needs-help': 'A besoin d’aide',
  'error.checkin': 'Indiquez si vous êtes en sécurité ou avez besoin d’aide',
  'offline.title': 'Gardé dans ce navigateur',
  'offline.body':
    'Vous êtes hors ligne. Ce que vous avez envoyé est signé et gardé dans ce navigateur : il sera envoyé dès le retour de la connexion.',
  'outbox.waiting':
    'En attente de connexion : {count} élément(s) signé(s) seront envoyés à votre retour en ligne.',
  'outbox.sent': 'De retour en ligne : ce que vous aviez gardé a été envoyé au bloc.',
  'receipt.title': 'Reçu',
  'receipt.link': 'Voir le reçu',
  'receipt.help':
    'Un nœud du bloc a signé ce reçu après avoir enregistré votre demande en lieu sûr. Toute personne disposant de la charte du bloc peut le vérifier, même hors ligne.',
  'receipt.what': 'Objet',
  'receipt.record': 'Enregistrement',
  'receipt.node': 'Enregistré par',
  'receipt.nodeName': 'Nœud {name} de {state}',
  'receipt.position': 'Place dans le registre du nœud',
  'receipt.date': 'Reçu le',
  'receipt.check': 'Signature',
  'receipt.verified': 'Vérifiée avec la charte du bloc',
  'receipt.unverified': 'Ne se vérifie pas',
  'receipt.qr': 'Code QR de ce reçu, pour le vérifier hors ligne',
  'receipt.print': 'Imprimer ce reçu',
  'receipt.none': 'Ce navigateur ne garde pas de reçu pour cet enregistrement.',
}

export const LANGUAGES = {
  en: { name: 'English', messages: en as Messages },
  fr: { name: 'Français', messages: fr },
} as const
export type Language = keyof typeof LANGUAGES

const STORAGE_KEY = 'legation.lang'
let current: Language = 'en'

export function isLanguage(x: unknown): x is Language {
  return typeof x === 'string' && Object.hasOwn(LANGUAGES, x)
}

/** The language in force: the one chosen before, else the browser's if shipped, else English. */
export function initLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY)
  const browser = navigator.language.slice(0, 2)
  current = isLanguage(saved) ? saved : isLanguage(browser) ? browser : 'en'
  document.documentElement.lang = current
  return current
}

export function setLanguage(lang: Language): void {
  current = lang
  localStorage.setItem(STORAGE_KEY, lang)
  document.documentElement.lang = lang
}

export function language(): Language {
  return current
}

export function t(key: MessageKey, vars: Readonly<Record<string, string>> = {}): string {
  return LANGUAGES[current].messages[key].replace(/\{(\w+)\}/g, (m, name: string) => vars[name] ?? m)
}

/** A date in the page's language, e.g. "2 December 2026". */
export function formatDate(ms: number): string {
  return new Intl.DateTimeFormat(current, { dateStyle: 'long' }).format(new Date(ms))
}
