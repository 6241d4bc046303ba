// Every string the site's interface shows, in one place. Lessons carry their own language
// (the first part of their id, "en/pid-namespaces"); the interface follows it.

export const LANGUAGES = ['en', 'ko'] as const;
export type Lang = (typeof LANGUAGES)[number];
export const DEFAULT_LANG: Lang = 'en';

/**
 * The sentences the lab server (src/server) sends in English in error frames, exit reasons and
 * check details. A page in another language maps each one it recognises to its own string of
 * the same key (src/scripts/server-messages.ts): {n} stands for a number, {s} for the rest.
 * test/unit/server-messages.test.ts checks that the server still says them.
 */
export const SERVER_SENTENCES = {
  srvCheckTimeout: 'the check did not finish within {n} s',
  srvCheckStatus: 'the check exited with status {n}',
  srvTakenOver: 'this terminal was opened in another tab or window; it continues there',
  srvShuttingDown: 'the lab server is shutting down; your sandbox is being removed',
  srvShutDown: 'the lab server is shutting down',
  srvCheckRunning: 'a check is already running; wait for its answer',
  srvSandboxEnded: 'the sandbox has ended; restart it to check exercises',
  srvIdleRemoved: 'this sandbox was removed after {s} without input; start a new one to go on',
  srvNoSandbox: 'could not start a sandbox: {s}',
  srvCheckFailed: 'the check could not run: {s}',
};
export type ServerSentence = keyof typeof SERVER_SENTENCES;

const en = {
  courseName: 'Isolab',
  courseTagline: 'Virtualization and containers, by running them',
  homeIntro:
    'Every chapter is a page with a real Linux terminal beside it. Read a little, press Run, and watch the kernel do what the text says: a shell that is PID 1, a hostname that only one process sees, a root directory that is not the host’s.',
  homeHow:
    'The terminal is a sandbox made for you by box, the small container runtime this course is built on. Nothing you do in it reaches your machine: break things freely.',
  /** "Chapter 2" / "제2장": Korean puts the number inside the word. */
  chapterLabel: (n: number): string => `Chapter ${n}`,
  startAt: (n: number, title: string): string => `Start with chapter ${n}: ${title}`,
  continueLabel: 'Continue where you left off',
  shellRestarted: 'the shell exited; a new one started in the same sandbox (your containers and files are still here)',
  resetSandbox: 'Reset the sandbox: a new, empty one',
  resetConfirm: 'Reset the sandbox? Its containers, volumes and files are removed, and a new, empty sandbox starts.',
  resetLine: 'a new, empty sandbox (the one above was reset)',
  screenReaderMode: 'Screen reader mode: terminal output is read aloud',
  leaveTerminal: 'leaves the terminal',
  resizeTerminal: 'Drag, or use the arrow keys, to share the width between the lesson and the terminal',
  searchLabel: 'Search the lessons',
  searchPlaceholder: 'Search  /',
  searchNone: 'No lesson has these words.',
  searchUnavailable: 'Search is not available: the site was built without its index.',
  showSolution: 'Show a solution',
  notYetBecause: 'Not yet:',
  maximiseTerminal: 'Give the terminal the whole page',
  restoreTerminal: 'Show the lesson beside the terminal',
  progressDone: 'Done',
  progressStarted: 'In progress',
  chapters: 'Chapters',
  // The class (src/pages/join.astro, src/scripts/class-join.ts).
  joinTitle: 'Join the class',
  joinIntro:
    'Type the code your instructor shows and the name you want them to see. No account is needed: the same code and name on another device bring your progress back.',
  joinCode: 'Class code',
  joinName: 'Your name',
  joinButton: 'Join',
  joinBusy: 'Joining…',
  joinWrongCode: 'That is not the code of an open class here. Check it with your instructor.',
  joinBadName: 'Type a name of 1 to 40 characters.',
  joinTooMany: 'Too many tries from this network. Wait a few seconds and try again.',
  joinFailed: 'Joining did not work; the server did not answer. Try again.',
  classBadge: (cls: string, name: string): string => `${cls} · ${name}`,
  // The instructor's page (src/pages/teach.astro, src/scripts/class-teach.ts).
  teachTitle: 'Your class',
  teachCode: 'Join code',
  teachJoinAt: 'Students open /join/ on this server and type the code.',
  teachRoster: 'Students',
  teachMatrix: 'Exercises',
  teachName: 'Name',
  teachConnected: 'Connected',
  teachLesson: 'Lesson',
  teachPassed: 'Passed',
  teachLastFail: 'Last failing check',
  teachHint: 'Hint',
  teachYes: 'yes',
  teachNo: 'no',
  teachNobody: 'Nobody has joined yet.',
  teachReset: 'Reset sandbox',
  teachResetConfirm: (name: string): string => `Reset the sandbox of ${name}? Their containers and files are removed; their progress stays.`,
  teachExport: 'Export as CSV',
  teachClose: 'Close the class',
  teachCloseConfirm: 'Close the class? Every student’s sandbox is removed and the code stops working. Progress is kept.',
  teachClosed: 'This class is closed.',
  teachLive: 'Live',
  teachOffline: 'Reconnecting…',
  // Read-only terminal views (src/pages/view.astro, src/scripts/class-view.ts).
  viewFollowTitle: 'Following the instructor’s terminal',
  viewStudentTitle: 'A student’s terminal',
  viewReadOnly: 'Read-only: you see this terminal live; what you type here goes nowhere.',
  viewWaitingPresenter: 'The instructor has no terminal open yet; waiting…',
  viewWaitingStudent: 'This student has no terminal open; waiting…',
  viewLive: 'Live',
  viewDropped: 'Connection lost; reconnecting…',
  viewEnded: 'That terminal ended; waiting for a new one…',
  teachWatch: 'Watch',
  teachFollowAt: 'Students follow your terminal, read-only, at /view/ on this server. Present from any lesson’s terminal in this browser.',
  // The language switcher: the other language's name in that language, and where it goes.
  langName: 'English',
  readIn: 'Read this page in English',
  languages: 'Language',
  previous: 'Previous',
  next: 'Next',
  youWillRun: 'You will run',
  run: 'Run',
  runTitle: 'Type this command into the terminal',
  copy: 'Copy',
  copied: 'Copied',
  copyTitle: 'Copy this code',
  themeToggle: 'Switch between light and dark theme',
  presenter: 'Presenter',
  presenterToggle: 'Presenter mode: larger text and terminal font',
  menu: 'Chapters',
  skipToContent: 'Skip to content',
  read: 'Read',
  done: 'Done',
  exercisesPassed: 'exercises passed',
  // Terminal
  terminal: 'Terminal',
  stateConnecting: 'Connecting…',
  stateConnected: 'Connected',
  stateReconnecting: 'Reconnecting…',
  stateGone: 'Disconnected',
  stateExited: 'Shell ended',
  stateFull: 'Lab full',
  stateElsewhere: 'Open in another tab',
  elsewhereMessage: 'This terminal is now open in another tab (a duplicated tab shares its sandbox).',
  useHere: 'Use it here',
  goneMessage:
    'The lab server is not answering. Is `npm start` still running? Start it again, then press Reconnect.',
  unauthorizedMessage:
    'This page has no valid access token. Open the URL that `npm start` printed (it ends in ?token=…).',
  exitedMessage: 'The shell has ended.',
  fullMessage: 'The lab is full; try again in a minute.',
  newShell: 'Start a new shell',
  reconnect: 'Reconnect',
  retry: 'Try again',
  copySelection: 'Copy selection',
  paste: 'Paste',
  sandbox: 'sandbox',
  // Exercises
  exercise: 'Exercise',
  check: 'Check',
  checking: 'Checking…',
  passed: 'Passed',
  failed: 'Not yet',
  notChecked: 'Not checked yet',
  hint: 'Hint',
  needsTerminal: 'The terminal is not connected yet; the check runs inside it.',
  checkTimeout: 'No answer from the lab server. Try again.',
  ...SERVER_SENTENCES,
  srvSeconds: '{n} seconds',
  srvMinutes: '{n} minutes',
  // Asides
  note: 'Note',
  tip: 'Tip',
  warning: 'Caution',
  // <PortLink>: a port published in the reader's sandbox, opened in a new tab
  portOpen: 'Open port {n} of your sandbox in a new tab',
  portNoTerminal: 'The terminal is not connected yet: the port is opened in its sandbox.',
  // 401
  unauthorizedTitle: 'This lab needs its access link',
  unauthorizedBody:
    'The lab server only answers pages opened through the link it printed when it started, so nobody else on your network can use your terminal.',
  unauthorizedStep1: 'Find the terminal where you ran npm start.',
  unauthorizedStep2: 'Open the URL it printed, which looks like',
  unauthorizedStep3: 'If you restarted the server, use the new link: the token changes on every start.',
  notFoundTitle: 'No such page',
  notFoundBody: 'This page does not exist. The chapter list is on the home page.',
  home: 'Home',
};

export type UiStrings = typeof en;

const ko: UiStrings = {
  courseName: 'Isolab',
  courseTagline: '직접 실행하며 배우는 가상화와 컨테이너',
  homeIntro:
    '각 장은 실제 리눅스 터미널이 옆에 있는 페이지입니다. 조금 읽고 실행을 누르면, 본문이 말하는 대로 커널이 움직이는 것을 볼 수 있습니다: PID 1인 셸, 한 프로세스에만 보이는 호스트 이름, 호스트의 것이 아닌 루트 디렉터리.',
  homeHow:
    '터미널은 이 과정의 바탕인 작은 컨테이너 런타임 box가 만들어 준 샌드박스입니다. 그 안에서 무엇을 하든 여러분의 컴퓨터에는 닿지 않으니 마음껏 망가뜨려 보세요.',
  chapterLabel: (n: number): string => `제${n}장`,
  startAt: (n: number, title: string): string => `제${n}장부터 시작하기: ${title}`,
  continueLabel: '읽던 곳에서 계속하기',
  shellRestarted: '셸이 끝나서 같은 샌드박스에서 새 셸을 시작했습니다(컨테이너와 파일은 그대로입니다)',
  resetSandbox: '샌드박스 초기화: 비어 있는 새 샌드박스',
  resetConfirm: '샌드박스를 초기화할까요? 컨테이너, 볼륨, 파일이 지워지고 비어 있는 새 샌드박스가 시작됩니다.',
  resetLine: '비어 있는 새 샌드박스(위의 샌드박스는 초기화되었습니다)',
  screenReaderMode: '화면 낭독기 모드: 터미널 출력을 읽어 줍니다',
  leaveTerminal: '터미널에서 나가기',
  resizeTerminal: '끌거나 화살표 키로 레슨과 터미널의 너비를 나누세요',
  searchLabel: '레슨 검색',
  searchPlaceholder: '검색  /',
  searchNone: '이 단어가 있는 레슨이 없습니다.',
  searchUnavailable: '검색을 쓸 수 없습니다: 사이트가 검색 색인 없이 빌드되었습니다.',
  showSolution: '풀이 보기',
  notYetBecause: '아직 아닙니다:',
  maximiseTerminal: '터미널을 화면 전체로 넓히기',
  restoreTerminal: '레슨을 터미널 옆에 다시 보이기',
  progressDone: '완료',
  progressStarted: '진행 중',
  chapters: '목차',
  joinTitle: '수업에 참여하기',
  joinIntro:
    '강사가 보여 주는 코드와 강사에게 보일 이름을 입력하세요. 계정은 필요 없습니다. 다른 기기에서 같은 코드와 이름을 넣으면 진도가 그대로 돌아옵니다.',
  joinCode: '수업 코드',
  joinName: '이름',
  joinButton: '참여',
  joinBusy: '참여하는 중…',
  joinWrongCode: '이 서버에 열린 수업의 코드가 아닙니다. 강사에게 확인하세요.',
  joinBadName: '이름을 1자에서 40자 사이로 입력하세요.',
  joinTooMany: '이 네트워크에서 시도가 너무 많았습니다. 몇 초 기다렸다가 다시 해 보세요.',
  joinFailed: '참여하지 못했습니다. 서버가 응답하지 않았습니다. 다시 해 보세요.',
  classBadge: (cls: string, name: string): string => `${cls} · ${name}`,
  teachTitle: '내 수업',
  teachCode: '참여 코드',
  teachJoinAt: '학생은 이 서버의 /join/을 열고 코드를 입력합니다.',
  teachRoster: '학생',
  teachMatrix: '연습 문제',
  teachName: '이름',
  teachConnected: '접속',
  teachLesson: '보고 있는 장',
  teachPassed: '통과',
  teachLastFail: '마지막으로 실패한 검사',
  teachHint: '힌트',
  teachYes: '예',
  teachNo: '아니요',
  teachNobody: '아직 아무도 참여하지 않았습니다.',
  teachReset: '샌드박스 초기화',
  teachResetConfirm: (name: string): string => `${name}의 샌드박스를 초기화할까요? 컨테이너와 파일은 지워지고 진도는 남습니다.`,
  teachExport: 'CSV로 내보내기',
  teachClose: '수업 닫기',
  teachCloseConfirm: '수업을 닫을까요? 모든 학생의 샌드박스가 지워지고 코드는 더 이상 쓸 수 없습니다. 진도는 남습니다.',
  teachClosed: '이 수업은 닫혔습니다.',
  teachLive: '실시간',
  teachOffline: '다시 연결하는 중…',
  viewFollowTitle: '강사의 터미널 따라 보기',
  viewStudentTitle: '학생의 터미널',
  viewReadOnly: '읽기 전용: 이 터미널을 실시간으로 봅니다. 여기서 입력한 것은 어디에도 가지 않습니다.',
  viewWaitingPresenter: '강사가 아직 터미널을 열지 않았습니다. 기다리는 중…',
  viewWaitingStudent: '이 학생은 열어 둔 터미널이 없습니다. 기다리는 중…',
  viewLive: '실시간',
  viewDropped: '연결이 끊겼습니다. 다시 연결하는 중…',
  viewEnded: '그 터미널은 끝났습니다. 새 터미널을 기다리는 중…',
  teachWatch: '보기',
  teachFollowAt: '학생은 이 서버의 /view/에서 강사의 터미널을 읽기 전용으로 따라 봅니다. 이 브라우저에서 아무 장의 터미널로 시연하세요.',
  langName: '한국어',
  readIn: '이 페이지를 한국어로 보기',
  languages: '언어',
  previous: '이전',
  next: '다음',
  youWillRun: '실행해 볼 명령',
  run: '실행',
  runTitle: '이 명령을 터미널에 입력합니다',
  copy: '복사',
  copied: '복사됨',
  copyTitle: '이 코드를 복사합니다',
  themeToggle: '밝은 테마와 어두운 테마 전환',
  presenter: '발표',
  presenterToggle: '발표 모드: 글자와 터미널 글꼴을 크게',
  menu: '목차',
  skipToContent: '본문으로 건너뛰기',
  read: '읽음',
  done: '완료',
  exercisesPassed: '연습 문제 통과',
  terminal: '터미널',
  stateConnecting: '연결 중…',
  stateConnected: '연결됨',
  stateReconnecting: '다시 연결 중…',
  stateGone: '연결 끊김',
  stateExited: '셸 종료됨',
  stateFull: '실습실 가득 참',
  stateElsewhere: '다른 탭에서 사용 중',
  elsewhereMessage: '이 터미널은 지금 다른 탭에서 열려 있습니다 (복제한 탭은 같은 샌드박스를 씁니다).',
  useHere: '여기서 사용',
  goneMessage:
    '실습 서버가 응답하지 않습니다. `npm start`가 아직 실행 중인가요? 다시 시작한 뒤 다시 연결을 누르세요.',
  unauthorizedMessage:
    '이 페이지에는 유효한 접근 토큰이 없습니다. `npm start`가 출력한 URL(?token=…로 끝나는)을 여세요.',
  exitedMessage: '셸이 종료되었습니다.',
  fullMessage: '실습실이 가득 찼습니다. 잠시 후 다시 시도하세요.',
  newShell: '새 셸 시작',
  reconnect: '다시 연결',
  retry: '다시 시도',
  copySelection: '선택 영역 복사',
  paste: '붙여넣기',
  sandbox: '샌드박스',
  exercise: '연습 문제',
  check: '확인',
  checking: '확인 중…',
  passed: '통과',
  failed: '아직 아님',
  notChecked: '아직 확인하지 않음',
  hint: '힌트',
  needsTerminal: '터미널이 아직 연결되지 않았습니다. 확인은 터미널 안에서 실행됩니다.',
  checkTimeout: '실습 서버의 응답이 없습니다. 다시 시도하세요.',
  srvCheckTimeout: '확인이 {n}초 안에 끝나지 않았습니다',
  srvCheckStatus: '확인 명령이 종료 코드 {n}으로 끝났습니다',
  srvTakenOver: '이 터미널을 다른 탭이나 창에서 열었습니다. 그곳에서 이어집니다',
  srvShuttingDown: '실습 서버가 종료되고 있습니다. 샌드박스를 지우는 중입니다',
  srvShutDown: '실습 서버가 종료되고 있습니다',
  srvCheckRunning: '확인이 이미 실행 중입니다. 결과를 기다리세요',
  srvSandboxEnded: '샌드박스가 끝났습니다. 연습 문제를 확인하려면 다시 시작하세요',
  srvIdleRemoved: '입력이 {s} 동안 없어서 이 샌드박스를 지웠습니다. 새로 시작해서 이어 가세요',
  srvNoSandbox: '샌드박스를 시작하지 못했습니다: {s}',
  srvCheckFailed: '확인을 실행하지 못했습니다: {s}',
  srvSeconds: '{n}초',
  srvMinutes: '{n}분',
  note: '참고',
  tip: '팁',
  warning: '주의',
  portOpen: '샌드박스의 {n}번 포트를 새 탭에서 열기',
  portNoTerminal: '터미널이 아직 연결되지 않았습니다. 포트는 그 샌드박스에서 열립니다.',
  unauthorizedTitle: '이 실습실에는 접근 링크가 필요합니다',
  unauthorizedBody:
    '실습 서버는 시작할 때 출력한 링크로 연 페이지에만 응답합니다. 그래서 같은 네트워크의 다른 사람은 여러분의 터미널을 쓸 수 없습니다.',
  unauthorizedStep1: 'npm start를 실행한 터미널을 찾으세요.',
  unauthorizedStep2: '출력된 URL을 여세요. 이런 모양입니다:',
  unauthorizedStep3: '서버를 다시 시작했다면 새 링크를 쓰세요. 토큰은 시작할 때마다 바뀝니다.',
  notFoundTitle: '없는 페이지입니다',
  notFoundBody: '이 페이지는 없습니다. 목차는 첫 페이지에 있습니다.',
  home: '처음으로',
};

const dictionaries: Record<Lang, UiStrings> = { en, ko };

export function isLang(value: string): value is Lang {
  return (LANGUAGES as readonly string[]).includes(value);
}

export function uiStrings(lang: string): UiStrings {
  return isLang(lang) ? dictionaries[lang] : dictionaries[DEFAULT_LANG];
}

/** The other languages' names, each in its own language ("한국어" on an English page). */
export function languageName(lang: Lang): string {
  return dictionaries[lang].langName;
}

/** "en/pid-namespaces" -> "en". */
export function langFromId(id: string): Lang {
  const prefix = id.split('/')[0];
  return isLang(prefix) ? prefix : DEFAULT_LANG;
}

/** A lesson file's path (".../content/lessons/ko/x.mdx") -> "ko". */
export function langFromPath(path: string): Lang {
  const m = /\/lessons\/([a-z]{2})\//.exec(path);
  return m && isLang(m[1]) ? m[1] : DEFAULT_LANG;
}

/** The strings the browser scripts need (terminal, exercises, copy), sent once per page as JSON. */
export function clientStrings(lang: string) {
  const s = uiStrings(lang);
  return {
    stateConnecting: s.stateConnecting,
    stateConnected: s.stateConnected,
    stateReconnecting: s.stateReconnecting,
    stateGone: s.stateGone,
    stateExited: s.stateExited,
    stateFull: s.stateFull,
    stateElsewhere: s.stateElsewhere,
    elsewhereMessage: s.elsewhereMessage,
    useHere: s.useHere,
    goneMessage: s.goneMessage,
    unauthorizedMessage: s.unauthorizedMessage,
    exitedMessage: s.exitedMessage,
    fullMessage: s.fullMessage,
    newShell: s.newShell,
    reconnect: s.reconnect,
    retry: s.retry,
    checking: s.checking,
    passed: s.passed,
    failed: s.failed,
    notChecked: s.notChecked,
    needsTerminal: s.needsTerminal,
    checkTimeout: s.checkTimeout,
    notYetBecause: s.notYetBecause,
    shellRestarted: s.shellRestarted,
    resetConfirm: s.resetConfirm,
    resetLine: s.resetLine,
    copied: s.copied,
    copy: s.copy,
    srvCheckTimeout: s.srvCheckTimeout,
    srvCheckStatus: s.srvCheckStatus,
    srvTakenOver: s.srvTakenOver,
    srvShuttingDown: s.srvShuttingDown,
    srvShutDown: s.srvShutDown,
    srvCheckRunning: s.srvCheckRunning,
    srvSandboxEnded: s.srvSandboxEnded,
    srvIdleRemoved: s.srvIdleRemoved,
    srvNoSandbox: s.srvNoSandbox,
    srvCheckFailed: s.srvCheckFailed,
    srvSeconds: s.srvSeconds,
    srvMinutes: s.srvMinutes,
  };
}
export type ClientStrings = ReturnType<typeof clientStrings>;
